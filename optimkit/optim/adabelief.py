"""AdaBelief (Zhuang et al., 2020): Adam that scales steps by the belief in the gradient."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import bias_correction, descent_gradients, update_first_moment, update_second_moment
from ._placement import state_zeros
from ._scalars import Scalars
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["AdaBelief", "adabelief_rule"]


def adabelief_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    exp_avg: list[Tensor],
    exp_avg_var: list[Tensor],
    max_exp_avg_var: list[Tensor] | None = None,
    *,
    lr: float | Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    decoupled_weight_decay: bool,
    maximize: bool,
    differentiable: bool,
) -> None:
    """The AdaBelief update over lists of tensors (see :class:`AdaBelief` for the math)."""
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay, lr=lr,
                              decoupled=decoupled_weight_decay)
    ops.increment_(step)
    update_first_moment(ops, exp_avg, grads, beta1)
    # The "belief": how far the gradient strays from its running mean, plus eps (Algorithm 2 of
    # the paper adds eps inside the running variance as well as to the denominator).
    update_second_moment(ops, exp_avg_var, ops.add(grads, exp_avg, alpha=-1), beta2)
    ops.add_(exp_avg_var, eps)
    variance = exp_avg_var
    if amsgrad:
        assert max_exp_avg_var is not None
        ops.maximum_(max_exp_avg_var, exp_avg_var)
        variance = max_exp_avg_var

    s = Scalars(ops, on_device=differentiable)
    t = s.counters(step)
    denom = ops.sqrt(variance)
    ops.div_(denom, s.sqrt(bias_correction(s, beta2, t)))
    ops.add_(denom, eps)
    s.addcdiv_(params, exp_avg, denom, s.div(-lr, bias_correction(s, beta1, t)))


_RULES = (v.LR, v.EPS, *v.BETAS, v.WEIGHT_DECAY)


@register(
    "adabelief",
    description="AdaBelief: Adam with the variance of the gradient around its mean as the second moment.",
)
class AdaBelief(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(adabelief_rule)

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, AdaBelief._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": scalar_step_tensor(p, on_device=False),
            "exp_avg": state_zeros(p, slot=0),
            "exp_avg_var": state_zeros(p, slot=1),
        }
        if group["amsgrad"]:
            state["max_exp_avg_var"] = state_zeros(p, slot=2)
        return state


AdaBelief.__doc__ = r"""AdaBelief (Zhuang et al., 2020, "AdaBelief Optimizer: Adapting Stepsizes by
the Belief in Observed Gradients").

Adam divides by the running mean of :math:`g^2`; AdaBelief by the running variance of :math:`g`
around its own running mean, so it takes large steps where the gradient is as predicted (the
"belief") and small ones where it is erratic:

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
     \quad(\text{or } \theta_{t-1} \leftarrow (1-\gamma\lambda)\theta_{t-1}
     \text{ with decoupled weight decay}) \\
   & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
   & s_t \leftarrow \beta_2 s_{t-1} + (1-\beta_2)\,(g_t - m_t)^2 + \epsilon
     \qquad(\hat s_t = \max(\hat s_{t-1}, s_t) \text{ with AMSGrad}) \\
   & \theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
     \frac{m_t}{\sqrt{s_t / (1-\beta_2^t)} + \epsilon}
   \end{aligned}

State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_var`` (:math:`s`) and, with
AMSGrad, ``max_exp_avg_var``.

""" + args_doc(
    {
        "lr": "lr (float, Tensor, optional): learning rate :math:`\\gamma` (default: 1e-3).",
        "betas": "betas (Tuple[float, float], optional): decay rates of the mean and of the variance (default: (0.9, 0.999)).",
        "eps": "eps (float, optional): :math:`\\epsilon`, added to the variance and to the denominator (default: 1e-16, the paper's).",
        "weight_decay": "weight_decay (float, optional): weight decay :math:`\\lambda` (default: 0).",
        "amsgrad": "amsgrad (bool, optional): divide by the largest variance so far (default: False).",
        "decoupled_weight_decay": "decoupled_weight_decay (bool, optional): shrink the weights directly, as AdamW, instead of adding :math:`\\lambda\\theta` to the gradient (default: False).",
    },
    AdaBelief,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import AdaBelief
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    >>> opt = AdaBelief([w], lr=0.1)
    >>> w.grad = torch.tensor([0.5, -0.5])
    >>> opt.step()
    >>> w.detach()  # first step: lr * m / |g - m| = 0.1 * 0.05 / 0.045 per coordinate
    tensor([ 0.8889, -0.8889])
    >>> sorted(opt.state[w])
    ['exp_avg', 'exp_avg_var', 'step']
"""
