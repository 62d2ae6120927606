"""RAdam (Liu et al., 2020): Adam whose adaptive step is switched on only once the variance of
its second-moment estimate is tractable, and rectified from then on."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, select
from ._moments import bias_correction, descent_gradients, update_first_moment, update_second_moment
from ._placement import state_zeros
from ._scalars import Scalars
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["RAdam", "radam_rule"]

# The adaptive step is used once the length of the approximated simple moving average exceeds
# this (Liu et al. use 4; torch, and so this implementation, use 5).
_RHO_THRESHOLD = 5.0


def _rectification(s: Scalars, rho_t: list[Any], rho_inf: float) -> list[Any]:
    """``sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))``."""
    numerator = s.mul(s.mul(s.add(rho_t, -4.0), s.add(rho_t, -2.0)), rho_inf)
    return s.sqrt(s.div(numerator, s.mul(rho_t, (rho_inf - 4) * (rho_inf - 2))))


def radam_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    exp_avg: list[Tensor],
    exp_avg_sq: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
    capturable: bool,
) -> None:
    """The RAdam update over lists of tensors (see :class:`RAdam` for the math).

    The arithmetic follows torch's for-loop implementation. Without ``capturable`` the
    rectification is decided per parameter on the host; with it, everything stays in 0-dim
    tensors on the device and the choice is a ``where``.
    """
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay, lr=lr,
                              decoupled=decoupled_weight_decay)
    ops.increment_(step)
    update_first_moment(ops, exp_avg, grads, beta1)
    update_second_moment(ops, exp_avg_sq, grads, beta2)

    s = Scalars(ops, on_device=capturable)
    t = s.counters(step)
    beta2_power = s.power(beta2, t)
    bias_correction2 = s.one_minus(beta2_power)
    # The longest possible simple moving average the exponential one approximates, and the
    # length of the one approximated now: rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t).
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = s.add(s.neg(s.div(s.mul(s.mul(t, 2), beta2_power), bias_correction2)), rho_inf)

    update = ops.div(exp_avg, bias_correction(s, beta1, t))
    ops.mul_(update, lr)
    # Rectified Adam steps where rho_t > 5: chosen per parameter on the host (as torch's for-loop
    # does), or, on the device, by a `where` over all of them (the rectification is NaN while
    # rho_t < 4, where it is never selected).
    chosen = list(range(len(params))) if capturable else [i for i, rho in enumerate(rho_t) if rho > _RHO_THRESHOLD]
    if chosen:
        denom = ops.sqrt(select(exp_avg_sq, chosen))
        ops.add_(denom, eps)
        # sqrt(1 - beta2^t) / (sqrt(v_t) + eps); a number over a tensor, as in torch's for-loop.
        adaptive = s.div(s.sqrt(select(bias_correction2, chosen)), denom)
        rectification = _rectification(s, select(rho_t, chosen), rho_inf)
        if capturable:
            factors = ops.mul(rectification, adaptive)
            ops.mul_(update, [torch.where(rho > _RHO_THRESHOLD, f, 1.0) for rho, f in zip(rho_t, factors)])
        else:
            rectified = select(update, chosen)
            ops.mul_(rectified, adaptive)
            ops.mul_(rectified, rectification)
    ops.add_(params, update, alpha=-1.0)


_RULES = (v.TENSOR_LR, v.LR, v.EPS, *v.BETAS, v.WEIGHT_DECAY)


@register(
    "radam",
    description="RAdam: Adam with a variance rectification term, plain momentum SGD during warm-up.",
    torch_name="RAdam",
)
class RAdam(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(radam_rule)
    _torch_defaults_order = ("maximize", "foreach", "capturable", "decoupled_weight_decay")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, RAdam._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {
            "step": scalar_step_tensor(p, on_device=group["capturable"]),
            "exp_avg": state_zeros(p, slot=0),
            "exp_avg_sq": state_zeros(p, slot=1),
        }

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        if group["capturable"]:
            # Only torch's for-loop implementation accepts XLA.
            v.check_capturable_devices(params, lists["step"], supports_xla=not self._use_foreach(group, params))
        return lists



RAdam.__doc__ = r"""RAdam (Liu et al., 2020, "On the Variance of the Adaptive Learning Rate and Beyond"), as
``torch.optim.RAdam``.

Early on, the second-moment estimate rests on too few gradients for its variance to be bounded, so
RAdam takes plain bias-corrected momentum steps; once the length :math:`\rho_t` of the simple moving
average that the exponential one approximates exceeds 5, it takes Adam steps scaled by the
rectification term :math:`r_t`.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}) \\
   & \textbf{if } \lambda \neq 0: \quad
     \begin{cases} \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) & \text{decoupled} \\
                   g_t \leftarrow g_t + \lambda\theta_{t-1} & \text{otherwise} \end{cases} \\
   & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
     v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
     \hat m_t \leftarrow m_t / (1-\beta_1^t) \\
   & \rho_\infty \leftarrow \frac{2}{1-\beta_2} - 1, \qquad
     \rho_t \leftarrow \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t} \\
   & \textbf{if } \rho_t > 5: \quad
     r_t \leftarrow \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}, \quad
     \theta_t \leftarrow \theta_{t-1} - \gamma\, \hat m_t\, r_t\, \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} \\
   & \textbf{else}: \quad \theta_t \leftarrow \theta_{t-1} - \gamma\, \hat m_t
   \end{aligned}

with learning rate :math:`\gamma` and weight decay :math:`\lambda`. State per parameter: ``step``,
``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`).

""" + args_doc(
    {
        "weight_decay": "weight_decay (float, optional): weight decay :math:`\\lambda`, an L2 penalty unless decoupled (default: 0).",
        "decoupled_weight_decay": "decoupled_weight_decay (bool, optional): shrink the weights directly, as AdamW does, instead of adding the decay to the gradient (RAdamW) (default: False).",
    },
    RAdam,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import RAdam
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = RAdam([w], lr=0.1)
    >>> w.grad = torch.tensor([1.0, -1.0, 0.0])
    >>> opt.step()  # rho_1 = 1: an unrectified momentum step of size lr
    >>> w.detach()
    tensor([0.9000, 1.1000, 1.0000])
"""
