"""Adafactor (Shazeer & Stern, 2018), torch's variant: factored second moments for matrices."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils._foreach_utils import _group_tensors_by_device_and_dtype

from . import _validation as v
from ._declaration import NOT_FILLED, register
from ._docs import args_doc
from ._executor import ListOps, scalar_value
from ._moments import descent_gradients
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["Adafactor", "adafactor_rule"]


def adafactor_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    row_var: list[Tensor | None],
    col_var: list[Tensor | None],
    variance: list[Tensor | None],
    *,
    lr: float | Tensor,
    beta2_decay: float,
    eps1: float,
    eps2: float,
    d: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The Adafactor update over lists of tensors (see :class:`Adafactor` for the math).

    One list may mix both kinds of parameters: those with ``row_var``/``col_var`` (two or more
    dimensions, factored over the last two) and those with ``variance`` (0-D and 1-D). Only the
    sign and the step count are list operations; the rest is per-tensor code: the factored
    moments are reductions and a matrix product, and each tensor's step size depends on its own
    norms.
    """
    grads = descent_gradients(ops, params, grads, maximize=maximize)
    ops.increment_(step)
    for param, grad, counter, row, col, full in zip(params, grads, step, row_var, col_var, variance):
        t = scalar_value(counter)
        weight = t**beta2_decay  # 1 - beta2_t, with beta2_t = 1 - t^decay
        # Relative step size, scaled by the parameter's RMS (at least eps2), measured before decay.
        alpha = max(eps2, torch.linalg.vector_norm(param).item() / (param.numel() ** 0.5)) * min(lr, 1 / (t**0.5))
        if weight_decay != 0:
            param.mul_(1 - lr * weight_decay)

        if row is not None and col is not None:
            # Mean of g^2 along the last dimension (rows) and the one before (columns), formed
            # as norm^2 / size so that no tensor of g's size is materialised.
            for factor, dim in ((row, -1), (col, -2)):
                mean = torch.linalg.vector_norm(grad, dim=dim, keepdim=True)
                mean.mul_(mean)
                mean.div_(grad.size(dim))
                factor.lerp_(mean, weight)
            estimate = torch.matmul(row, col)
            estimate.div_(row.mean(dim=-2, keepdim=True).clamp_min_(eps1))
        else:
            assert full is not None
            full.lerp_(grad.mul(grad), weight)
            estimate = full.clone()  # a copy: the update must not write into the state

        # eps1 is squared because the square root follows.
        update = estimate.clamp_min_(eps1 * eps1).rsqrt_().mul_(grad)
        # Clip the update to RMS <= d, then step by -alpha.
        rms_over_d = torch.linalg.vector_norm(update).item() / ((update.numel() ** 0.5) * d)
        param.add_(update, alpha=-alpha / max(1.0, rms_over_d))


_RULES = (
    v.TENSOR_LR,
    v.non_negative("lr", "Learning rate should be >= 0 but is: {}"),
    v.Rule("beta2_decay", lambda value: 0.0 >= value, "beta2_decay should be <= 0 but is: {}"),
    v.Rule("eps", lambda value: value is None or 0.0 <= value, "epsilon1 should be >= 0 but is: {}", index=0),
    v.Rule("eps", lambda value: 0.0 <= value, "epsilon2 should be >= 0 but is: {}", index=1),
    v.Rule("d", lambda value: 1.0 <= value, "Clipping threshold d should be >= 1 but is: {}"),
    v.non_negative("weight_decay", "weight_decay should be >= 0 but is: {}"),
)


@register(
    "adafactor",
    description="Adafactor: relative step sizes and a factored (row/column) second moment for matrices.",
    torch_name="Adafactor",
)
class Adafactor(Optimizer):
    _rule = staticmethod(adafactor_rule)
    _supports_complex = False
    # torch's __setstate__ fills `foreach` only.
    _old_checkpoint_fills = {"maximize": NOT_FILLED}

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, Adafactor._defaults_from_signature(locals()))

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        state: dict[str, Any] = {"step": scalar_step_tensor(p, on_device=False)}
        if p.dim() > 1:
            # Mean squares over the last dimension (one per row) and over the one before it (one
            # per column); any leading dimensions are batch dimensions.
            state["row_var"] = p.new_zeros((*p.shape[:-1], 1))
            state["col_var"] = p.new_zeros((*p.shape[:-2], 1, p.shape[-1]))
        else:
            state["variance"] = state_zeros(p, slot=0)
        return state

    def _use_foreach(self, group: dict[str, Any], params: list[Tensor]) -> bool:
        # Like torch: Adafactor is chosen when memory is tight, so the foreach path (more peak
        # memory) runs only when asked for, also on CUDA.
        return bool(group["foreach"])

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        if params:
            # The default eps1 is the machine epsilon of one dtype, used for the whole group: torch
            # picks it once, from the first parameter in its for-loop and from the first
            # (device, dtype) bucket of its grouping (not first-seen order) in its foreach path.
            dtype = params[0].dtype
            if self._use_foreach(group, params):
                buckets = _group_tensors_by_device_and_dtype([params])  # type: ignore[list-item]
                dtype = next(iter(buckets))[1]
            self._eps1_default = torch.finfo(dtype).eps
        super()._update_group(group, params)

    def _hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        hyper = super()._hyperparameters(group)
        if hyper["eps1"] is None:
            hyper["eps1"] = self._eps1_default
        return hyper

    def state_names_to_sparsify(self) -> list[str]:
        """``["variance"]`` when some parameter has at most one dimension, else ``[]``.

        Only the full second moment ``variance`` of 0-D/1-D parameters is shaped like its
        parameter. The factors ``row_var`` and ``col_var`` are means over whole rows and columns:
        a weight mask has no element-wise counterpart in them, and a masked weight (whose
        gradient is zero) already adds nothing to them, so they are left out.

        Example:
            >>> import torch
            >>> from optimkit.optim import Adafactor
            >>> w, b = torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(3))
            >>> Adafactor([w]).state_names_to_sparsify(), Adafactor([w, b]).state_names_to_sparsify()
            ([], ['variance'])
        """
        vectors = any(p.dim() <= 1 for group in self.param_groups for p in group["params"])
        return ["variance"] if vectors else []


Adafactor.__doc__ = r"""Adafactor (Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear
Memory Cost"), in torch's variant, as ``torch.optim.Adafactor``.

For a parameter with two or more dimensions the second moment is kept as a row factor
:math:`R` (the mean of :math:`g^2` over the last dimension) and a column factor :math:`C` (the
mean over the second-to-last), so an :math:`n \times m` matrix needs :math:`n + m` numbers
instead of :math:`nm`. 0-D and 1-D parameters keep a full :math:`V`. For step :math:`t`:

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}), \qquad
     \beta_{2,t} = 1 - t^{\tau} \\
   & \rho_t = \min\!\big(\gamma, 1/\sqrt{t}\big), \qquad
     \alpha_t = \max\!\big(\epsilon_2, \mathrm{RMS}(\theta_{t-1})\big)\,\rho_t, \qquad
     \theta_{t-1} \leftarrow (1 - \gamma\lambda)\,\theta_{t-1} \\
   & \text{factored:}\quad R_t = \beta_{2,t} R_{t-1} + (1-\beta_{2,t})\,\mathrm{mean}_{\text{cols}}(g_t^2), \quad
     C_t = \beta_{2,t} C_{t-1} + (1-\beta_{2,t})\,\mathrm{mean}_{\text{rows}}(g_t^2), \quad
     \hat V_t = \frac{R_t C_t}{\max(\mathrm{mean}(R_t), \epsilon_1)} \\
   & \text{otherwise:}\quad \hat V_t = V_t = \beta_{2,t} V_{t-1} + (1-\beta_{2,t})\, g_t^2 \\
   & U_t = \frac{g_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}}, \qquad
     \theta_t = \theta_{t-1} - \frac{\alpha_t}{\max\!\big(1, \mathrm{RMS}(U_t)/d\big)}\, U_t
   \end{aligned}

with learning rate :math:`\gamma`, decay exponent :math:`\tau` (``beta2_decay``), clipping
threshold :math:`d` and weight decay :math:`\lambda`. As in torch (and unlike the paper), the
learning rate caps the relative step :math:`\rho_t` and scales the decoupled weight decay, and
:math:`\epsilon_1` (by default the machine epsilon of the parameters' dtype) is applied to the
estimate rather than added to :math:`g^2`; the means equal the paper's sums up to a factor.

State per parameter: ``step``; ``row_var`` (shape ``(..., n, 1)``) and ``col_var`` (shape
``(..., 1, m)``) for parameters with two or more dimensions, ``variance`` otherwise. Complex
parameters and sparse gradients are rejected.

""" + args_doc(
    {
        "lr": "lr (float, Tensor, optional): the largest relative step size, and the scale of the weight decay (default: 1e-2).",
        "beta2_decay": "beta2_decay (float, optional): exponent :math:`\\tau \\le 0` of :math:`1 - \\beta_{2,t} = t^\\tau` (default: -0.8).",
        "eps": "eps (Tuple[float | None, float], optional): :math:`\\epsilon_1`, the floor of the second-moment estimate (``None``: the dtype's machine epsilon), and :math:`\\epsilon_2`, the floor of the parameter RMS in the step size (default: (None, 1e-3)).",
        "d": "d (float, optional): clipping threshold on the RMS of the update, at least 1 (default: 1.0).",
        "weight_decay": "weight_decay (float, optional): decoupled weight decay, scaled by lr (default: 0.0).",
        "foreach": "foreach (bool, optional): run the update with ``torch._foreach_*``. Unlike most optimizers, and like torch, the default ``None`` means a per-tensor loop on every device, since foreach needs more peak memory (default: None).",
    },
    Adafactor,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Adafactor
    >>> model = torch.nn.Linear(4, 3)
    >>> opt = Adafactor(model.parameters())
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> [tuple(opt.state[model.weight][k].shape) for k in ("row_var", "col_var")]
    [(3, 1), (1, 4)]
    >>> sorted(opt.state[model.bias])
    ['step', 'variance']
"""
