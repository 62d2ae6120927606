"""Muon (Jordan et al., 2024): momentum orthogonalised by a Newton–Schulz iteration, for 2-D weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import NOT_FILLED, register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import update_first_moment
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT

__all__ = ["Muon", "muon_rule", "newton_schulz", "adjusted_lr"]

# The quintic's coefficients and the defaults of Keller Jordan's reference implementation
# (https://kellerjordan.github.io/posts/muon/), which torch adopts.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
EPS = 1e-7


def newton_schulz(matrix: Tensor, coefficients: tuple[float, float, float], steps: int, eps: float) -> Tensor:
    """Approximately orthogonalise ``matrix``: map :math:`G = U S V^\\top` to about
    :math:`U V^\\top`, in bfloat16.

    The matrix is scaled to Frobenius norm 1 (so its singular values lie in [0, 1]), then
    ``steps`` times :math:`X \\leftarrow aX + (bA + cA^2)X` with :math:`A = XX^\\top`. The quintic
    :math:`a\\sigma + b\\sigma^3 + c\\sigma^5` pushes every singular value towards 1 (the default
    coefficients trade exact convergence for a steep slope at 0). A tall matrix is transposed
    first so that :math:`A` is the smaller Gram matrix.

    Returns a new bfloat16 tensor, except that a bfloat16 input is scaled in place and returned
    (torch does the same).

    Example:
        >>> import torch
        >>> g = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
        >>> o = newton_schulz(g, (3.4445, -4.7750, 2.0315), 5, 1e-7)
        >>> o.dtype, o.shape, bool((torch.linalg.svdvals(o.float()) - 1).abs().max() < 0.5)
        (torch.bfloat16, torch.Size([6, 4]), True)
    """
    if steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(matrix.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = coefficients
    tall = matrix.size(0) > matrix.size(1)
    x = matrix.to(torch.bfloat16)
    if tall:
        x = x.T
    # clamp_min out of place: a DTensor norm is a pending partial sum (FSDP2), not updatable in place.
    x.div_(torch.linalg.vector_norm(x).clamp_min(eps))
    for _ in range(steps):
        gram = torch.matmul(x, x.T)
        polynomial = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, polynomial, x, beta=a)
    return x.T if tall else x


# How each ``adjust_lr_fn`` scales the learning rate of an ``A x B`` matrix.
_LR_SCALES: dict[str | None, Callable[[int, int], float]] = {
    # "original" (the default): sqrt(max(1, A/B)), from Keller Jordan's reference implementation.
    None: lambda rows, cols: math.sqrt(max(1, rows / cols)),
    # "match_rms_adamw": an update RMS like AdamW's (Liu et al. 2025, "Muon is Scalable for LLM
    # Training").
    "match_rms_adamw": lambda rows, cols: 0.2 * math.sqrt(max(rows, cols)),
}
_LR_SCALES["original"] = _LR_SCALES[None]


def adjusted_lr(lr: float | Tensor, adjust_lr_fn: str | None, shape: torch.Size) -> float | Tensor:
    """The learning rate for an ``A x B`` matrix: ``lr * sqrt(max(1, A/B))`` ("original", the
    default) or ``0.2 * lr * sqrt(max(A, B))`` ("match_rms_adamw"); any other name leaves ``lr``
    unscaled (the constructor rejects unknown names)."""
    scale = _LR_SCALES.get(adjust_lr_fn)
    return lr if scale is None else lr * scale(shape[0], shape[1])


def muon_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffer: list[Tensor],
    *,
    lr: float | Tensor,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    ns_steps: int,
    eps: float,
    adjust_lr_fn: str | None,
) -> None:
    """The Muon update over lists of 2-D tensors (see :class:`Muon` for the math)."""
    if any(g.ndim != 2 for g in grads):
        raise ValueError("Param gradient must be a 2D matrix")
    update_first_moment(ops, momentum_buffer, grads, momentum)
    # The Nesterov look-ahead, then the orthogonalisation: per-matrix code (matrix products).
    updates = [torch.lerp(g, m, momentum) for g, m in zip(grads, momentum_buffer)] if nesterov else momentum_buffer
    orthogonal = [newton_schulz(u, ns_coefficients, ns_steps, eps) for u in updates]
    ops.mul_(params, 1 - lr * weight_decay)
    ops.add_(params, orthogonal, alpha=[-adjusted_lr(lr, adjust_lr_fn, p.shape) for p in params])


_RULES = (
    v.TENSOR_LR,
    v.non_negative("lr", "Learning rate should be >= 0 but is: {}"),
    v.non_negative("momentum", "momentum should be >= 0 but is: {}"),
    v.non_negative("weight_decay", "weight decay should be >= 0 but is: {}"),
    v.Rule("adjust_lr_fn", lambda value: value is None or value in ("original", "match_rms_adamw"),
           "Adjust learning rate function {} is not supported"),
)


@register(
    "muon",
    description="Muon: Nesterov momentum orthogonalised by Newton-Schulz iterations, for 2-D parameters.",
    torch_name="Muon",
)
class Muon(Optimizer):
    _rule = staticmethod(muon_rule)
    _supports_complex = False
    # torch's Muon has no __setstate__: it fills nothing.
    _old_checkpoint_fills = {"nesterov": NOT_FILLED}

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = EPS,
        ns_steps: int = NS_STEPS,
        adjust_lr_fn: str | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, Muon._defaults_from_signature(locals()))
        not_matrix = next((p for g in self.param_groups for p in g["params"] if p.ndim != 2), None)
        if not_matrix is not None:
            raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: {not_matrix.size()}")

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {"momentum_buffer": state_zeros(p, slot=0)}



Muon.__doc__ = r"""Muon (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks"), as
``torch.optim.Muon``: for 2-D parameters only.

.. math::
   \begin{aligned}
   & B_t \leftarrow \mu B_{t-1} + (1 - \mu)\, g_t \\
   & M_t \leftarrow \begin{cases} (1-\mu)\, g_t + \mu B_t & \textit{nesterov} \\ B_t & \text{otherwise} \end{cases} \\
   & O_t \leftarrow \mathrm{NS}^{(a,b,c)}_k\big(M_t / \max(\lVert M_t\rVert_F, \varepsilon)\big), \qquad
     \mathrm{NS}: X \leftarrow aX + (bA + cA^2)X,\ A = XX^\top,\ k \text{ times (in bfloat16)} \\
   & \theta_t \leftarrow (1 - \gamma\lambda)\,\theta_{t-1} - \tilde\gamma\, O_t, \qquad
     \tilde\gamma = \begin{cases} \gamma\sqrt{\max(1, A/B)} & \text{"original" (default)} \\
                    0.2\,\gamma\sqrt{\max(A, B)} & \text{"match\_rms\_adamw"} \end{cases}
   \end{aligned}

for an :math:`A \times B` parameter, with learning rate :math:`\gamma`, momentum :math:`\mu`
and weight decay :math:`\lambda` (decoupled). The momentum buffer is an exponential moving
average, as in torch. :math:`O_t` is close to the orthogonal factor :math:`UV^\top` of
:math:`M_t = USV^\top`: every direction of the update gets about the same size. Biases,
embeddings and other non-matrix parameters belong with another optimizer (AdamW, say).

State per parameter: ``momentum_buffer``. Complex parameters and sparse gradients are rejected.

""" + args_doc(
    {
        "params": "params (iterable): 2-D tensors, or dicts defining parameter groups of them, or (name, tensor) pairs.",
        "lr": "lr (float, Tensor, optional): learning rate (default: 1e-3).",
        "weight_decay": "weight_decay (float, optional): decoupled weight decay, scaled by lr (default: 0.1).",
        "momentum": "momentum (float, optional): momentum factor :math:`\\mu` (default: 0.95).",
        "nesterov": "nesterov (bool, optional): orthogonalise the Nesterov look-ahead instead of the buffer (default: True).",
        "ns_coefficients": "ns_coefficients (Tuple[float, float, float], optional): the quintic's :math:`(a, b, c)` (default: (3.4445, -4.775, 2.0315)).",
        "eps": "eps (float, optional): floor of the norm the update is divided by (default: 1e-7).",
        "ns_steps": "ns_steps (int, optional): Newton–Schulz iterations, fewer than 100 (default: 5).",
        "adjust_lr_fn": "adjust_lr_fn (str, optional): ``\"original\"`` or ``\"match_rms_adamw\"``; ``None`` means ``\"original\"`` (default: None).",
    },
    Muon,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import AdamW, Muon
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    >>> matrices = [p for p in model.parameters() if p.ndim == 2]
    >>> others = [p for p in model.parameters() if p.ndim != 2]
    >>> muon, adamw = Muon(matrices, lr=0.02), AdamW(others, lr=3e-4)
    >>> model(torch.randn(4, 8)).pow(2).mean().backward()
    >>> muon.step(); adamw.step()
    >>> sorted(muon.state[model[0].weight])
    ['momentum_buffer']
"""
