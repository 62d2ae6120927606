"""Lamb (You et al., 2019): Adam-style steps rescaled per tensor by a trust ratio."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import descent_gradients, update_second_moment
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["Lamb", "lamb_rule", "trust_ratio"]

# The paper leaves the scaling function phi of the weight norm open; Cerebras' Lamb (after
# cybertronai/pytorch-lamb) uses phi(z) = min(z, 10), which we keep so results agree with theirs.
WEIGHT_NORM_CLAMP = 10.0


def lamb_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    exp_avg: list[Tensor],
    exp_avg_sq: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    adam: bool,
    maximize: bool,
) -> None:
    """The Lamb update over lists of tensors (see :class:`Lamb` for the math)."""
    grads = descent_gradients(ops, params, grads, maximize=maximize)
    ops.increment_(step)
    # No bias correction: version 3 of the paper (and Cerebras) dropped it. The first moment is
    # scaled and added rather than interpolated, as in Cerebras' kernel (the rounding differs).
    ops.mul_(exp_avg, beta1)
    ops.add_(exp_avg, grads, alpha=1 - beta1)
    update_second_moment(ops, exp_avg_sq, grads, beta2)

    denom = ops.sqrt(exp_avg_sq)
    ops.add_(denom, eps)
    update = ops.div(exp_avg, denom)
    if weight_decay != 0:
        # The decay joins the update before its norm is taken, so the trust ratio scales it too.
        ops.add_(update, params, alpha=weight_decay)

    if not adam:
        # The norms are one list operation each; their ratio is per-tensor code.
        ratios = [trust_ratio(w, u) for w, u in zip(ops.norm(params), ops.norm(update))]
        update = ops.mul(update, ratios)
    ops.add_(params, update, alpha=-lr)


def trust_ratio(weight_norm: Tensor, update_norm: Tensor) -> Tensor:
    r"""Lamb's trust ratio :math:`\min(\lVert w\rVert, 10) / \lVert u\rVert` of one tensor, from the two norms.

    It is 1 where the weight norm is 0. Where the update's norm is 0 the update is all zeros and
    the ratio cannot matter: dividing by 1 there keeps inf and nan out of the result (and out of
    autograd in differentiable mode).

    Example:
        >>> import torch
        >>> trust_ratio(torch.tensor(20.0), torch.tensor(4.0)), trust_ratio(torch.tensor(0.0), torch.tensor(4.0))
        (tensor(2.5000), tensor(1.))
    """
    weight_norm = weight_norm.clamp_max(WEIGHT_NORM_CLAMP)
    ratio = weight_norm / torch.where(update_norm > 0.0, update_norm, 1.0)
    return torch.where(weight_norm > 0.0, ratio, 1.0)


_RULES = (v.LR, v.EPS, *v.BETAS, v.WEIGHT_DECAY)


@register(
    "lamb",
    description="Lamb: layer-wise adaptive moments, Adam steps rescaled per tensor by ||w|| / ||update||.",
)
class Lamb(Optimizer):
    _rule = staticmethod(lamb_rule)
    _own_options = ("state_dtype", "stochastic_rounding")
    _lean_states = {"exp_avg": True, "exp_avg_sq": False}

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0,
        adam: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        state_dtype: torch.dtype | str | None = None,
        stochastic_rounding: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        # optimkit's own options after torch's checks, so torch's errors come first.
        state_dtype = v.check_lean_options(state_dtype, stochastic_rounding, foreach=foreach,
                                           differentiable=differentiable)
        super().__init__(params, Lamb._defaults_from_signature(locals()))

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # `step` follows torch's Adam (a 0-dim CPU tensor, float32 unless float64 is the default
        # dtype); Lamb's update does not read it, but schedulers and logs do.
        return {
            "step": scalar_step_tensor(p, on_device=False),
            "exp_avg": state_zeros(p, slot=0),
            "exp_avg_sq": state_zeros(p, slot=1),
        }


Lamb.__doc__ = r"""Lamb (You et al., 2019, "Large Batch Optimization for Deep Learning: Training BERT in
76 minutes"), with the signature and behaviour of Cerebras' ``Lamb``.

For each parameter tensor :math:`\theta` (a "layer"):

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}) \\
   & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
     v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
   & u_t \leftarrow \frac{m_t}{\sqrt{v_t} + \epsilon} + \lambda\,\theta_{t-1} \\
   & \phi_t \leftarrow \min\bigl(\lVert\theta_{t-1}\rVert_2,\ 10\bigr), \qquad
     r_t \leftarrow \begin{cases} \phi_t / \lVert u_t\rVert_2 & \phi_t > 0 \text{ and } \lVert u_t\rVert_2 > 0 \\
                                  1 & \text{otherwise (and always when } \textit{adam}) \end{cases} \\
   & \theta_t \leftarrow \theta_{t-1} - \gamma\, r_t\, u_t
   \end{aligned}

There is no bias correction (version 3 of the paper removed it). The weight norm is capped at 10
(the scaling function :math:`\phi`, which the paper leaves open, as Cerebras and
cybertronai/pytorch-lamb choose it). Norms are taken over the whole tensor, in its dtype; complex
parameters are treated as pairs of reals. State per parameter: ``step`` (a 0-dim CPU tensor
counting steps, as in :class:`~optimkit.optim.Adam`), ``exp_avg`` (:math:`m`) and ``exp_avg_sq``
(:math:`v`).

""" + args_doc(
    {
        "lr": "lr (float, optional): learning rate (default: 0.001).",
        "betas": "betas (Tuple[float, float], optional): decay rates of the running averages of the gradient and of its square (default: (0.9, 0.999)).",
        "weight_decay": "weight_decay (float, optional): :math:`\\lambda`, times the weights, added to the normalised step before the trust ratio is taken (default: 0).",
        "adam": "adam (bool, optional): fix the trust ratio to 1, which leaves Adam without bias correction; for comparisons (default: False).",
    },
    Lamb,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Lamb
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = Lamb(model.parameters(), lr=1e-2, weight_decay=0.01)
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> list(opt.state[model.weight])
    ['step', 'exp_avg', 'exp_avg_sq']
    >>> opt.state_names_to_sparsify()
    ['exp_avg', 'exp_avg_sq']
"""
