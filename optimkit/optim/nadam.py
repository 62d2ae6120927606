"""NAdam (Dozat, 2016): Adam with Nesterov momentum and a warming-up momentum schedule."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import bias_correction, descent_gradients, root_of_fresh, update_first_moment, update_second_moment
from ._placement import state_zeros
from ._scalars import Scalars
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["NAdam", "nadam_rule"]

# The base of the momentum warm-up schedule mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * psi)), as in
# Dozat's paper and torch.
_SCHEDULE_BASE = 0.96


def _momentum(s: Scalars, steps: list[Any], beta1: float, momentum_decay: float) -> list[Any]:
    """The momentum coefficient ``beta1 * (1 - 0.5 * 0.96 ** (t * psi))`` of each step count."""
    return s.mul(s.one_minus(s.mul(s.power(_SCHEDULE_BASE, s.mul(steps, momentum_decay)), 0.5)), beta1)


def nadam_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    mu_product: list[Tensor],
    exp_avg: list[Tensor],
    exp_avg_sq: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
    capturable: bool,
    differentiable: bool,
) -> None:
    """The NAdam update over lists of tensors (see :class:`NAdam` for the math).

    The arithmetic follows torch's for-loop implementation. Three modes differ only in how the
    per-parameter scalars are held: plain Python numbers (default); numbers for the schedule but
    0-dim tensors built from ``mu_product`` (``differentiable``, so autograd sees them); 0-dim
    tensors on the parameters' device throughout (``capturable``, so nothing syncs with the host).
    """
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay, lr=lr,
                              decoupled=decoupled_weight_decay)
    ops.increment_(step)

    schedule = Scalars(ops, on_device=capturable)
    t = schedule.counters(step)
    mu = _momentum(schedule, t, beta1, momentum_decay)
    mu_next = _momentum(schedule, schedule.add(t, 1), beta1, momentum_decay)
    # mu_product holds prod_{i <= t} mu_i; it stays in its own (scalar) dtype, as in torch.
    ops.mul_(mu_product, mu)

    update_first_moment(ops, exp_avg, grads, beta1)
    update_second_moment(ops, exp_avg_sq, grads, beta2)
    denom = root_of_fresh(ops, ops.div(exp_avg_sq, bias_correction(schedule, beta2, t)))
    ops.add_(denom, eps)

    # Step sizes -lr (1 - mu_t) / (1 - prod_t) for the gradient and -lr mu_{t+1} / (1 - prod_t
    # mu_{t+1}) for the momentum; 0-dim tensors from mu_product where autograd or a captured graph
    # must see them.
    sizes = Scalars(ops, on_device=capturable or differentiable)
    product = sizes.counters(mu_product)
    grad_size = sizes.div(sizes.mul(sizes.one_minus(mu), -lr), sizes.one_minus(product))
    avg_size = sizes.div(sizes.mul(mu_next, -lr), sizes.one_minus(sizes.mul(product, mu_next)))
    sizes.addcdiv_(params, grads, denom, grad_size)
    sizes.addcdiv_(params, exp_avg, denom, avg_size)


_RULES = (
    v.TENSOR_LR,
    v.LR,
    v.EPS,
    *v.BETAS,
    v.WEIGHT_DECAY,
    v.non_negative("momentum_decay", "Invalid momentum_decay value: {}"),
)


@register(
    "nadam",
    description="NAdam: Adam with Nesterov momentum and a momentum warm-up schedule; NAdamW with decoupled weight decay.",
    torch_name="NAdam",
)
class NAdam(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(nadam_rule)
    _torch_defaults_order = ("maximize", "foreach")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, NAdam._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # `step` and `mu_product` are 0-dim tensors of the scalar dtype, on the CPU unless
        # capturable (torch keeps them off the accelerator to save kernel launches).
        on_device = group["capturable"]
        return {
            "step": scalar_step_tensor(p, on_device=on_device),
            "mu_product": scalar_step_tensor(p, on_device=on_device).fill_(1.0),
            "exp_avg": state_zeros(p, slot=0),
            "exp_avg_sq": state_zeros(p, slot=1),
        }

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        if group["capturable"] and not torch.compiler.is_compiling():
            # torch's two implementations word this check slightly differently, and only the
            # for-loop one accepts XLA.
            foreach = self._use_foreach(group, params)
            devices = v.capturable_devices(supports_xla=not foreach)
            if not all(p.device.type == m.device.type == s.device.type and p.device.type in devices
                       for p, m, s in zip(params, lists["mu_product"], lists["step"])):
                names = "params, mu_products, and state_steps" if foreach else "params, mu_products and state_steps"
                raise AssertionError(f"If capturable=True, {names} must be on supported devices: {devices}.")
        return lists



NAdam.__doc__ = r"""NAdam (Dozat, 2016, "Incorporating Nesterov Momentum into Adam"), as ``torch.optim.NAdam``.

The momentum coefficient warms up over the first few thousand steps with the schedule
:math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\psi})`, and the step looks one momentum update
ahead (Nesterov), bias-corrected by the running product of the :math:`\mu`'s.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}) \\
   & \textbf{if } \lambda \neq 0: \quad
     \begin{cases} \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) & \text{decoupled (NAdamW)} \\
                   g_t \leftarrow g_t + \lambda\theta_{t-1} & \text{otherwise} \end{cases} \\
   & \mu_t \leftarrow \beta_1\big(1 - \tfrac12\, 0.96^{t\psi}\big), \qquad
     \mu_{t+1} \leftarrow \beta_1\big(1 - \tfrac12\, 0.96^{(t+1)\psi}\big), \qquad
     \Pi_t \leftarrow \Pi_{t-1}\,\mu_t \ (\Pi_0 = 1) \\
   & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
     v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
   & \theta_t \leftarrow \theta_{t-1} - \gamma\,
     \frac{\dfrac{(1-\mu_t)\, g_t}{1-\Pi_t} + \dfrac{\mu_{t+1}\, m_t}{1-\Pi_t\,\mu_{t+1}}}
          {\sqrt{v_t / (1-\beta_2^t)} + \epsilon}
   \end{aligned}

with learning rate :math:`\gamma`, weight decay :math:`\lambda` and momentum decay :math:`\psi`.
State per parameter: ``step``, ``mu_product`` (:math:`\Pi`, a 0-dim tensor like ``step``),
``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`).

""" + args_doc(
    {
        "lr": "lr (float, Tensor, optional): learning rate :math:`\\gamma` (default: 2e-3).",
        "weight_decay": "weight_decay (float, optional): weight decay :math:`\\lambda`, an L2 penalty unless decoupled (default: 0).",
        "momentum_decay": "momentum_decay (float, optional): :math:`\\psi`, how fast the momentum coefficient warms up towards :math:`\\beta_1` (default: 4e-3).",
        "capturable": "capturable (bool, optional): keep ``step``, ``mu_product`` and the step sizes on the parameters' device so the step can be captured in a CUDA graph; costs some speed when not capturing (default: False).",
        "decoupled_weight_decay": "decoupled_weight_decay (bool, optional): shrink the weights directly, as AdamW does, instead of adding the decay to the gradient; the decay then never enters the moments (NAdamW) (default: False).",
    },
    NAdam,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import NAdam
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = NAdam(model.parameters(), lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True)
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> list(opt.state[model.weight])
    ['step', 'mu_product', 'exp_avg', 'exp_avg_sq']
    >>> opt.state[model.weight]["mu_product"].dtype
    torch.float32
"""
