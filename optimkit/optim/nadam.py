"""NAdam (Dozat, 2016): Adam with Nesterov momentum and a warming-up momentum schedule."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, scalar_value
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["NAdam", "nadam_rule"]

# The base of the momentum warm-up schedule mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * psi)), as in
# Dozat's paper and torch.
_SCHEDULE_BASE = 0.96


def _momentum_schedule(ops: ListOps, exponents: list[Tensor], beta1: float) -> list[Tensor]:
    """``beta1 * (1 - 0.5 * 0.96 ** e)`` for 0-dim tensors ``e``, in torch's order of operations."""
    mus = ops.pow_base(_SCHEDULE_BASE, exponents)
    ops.mul_(mus, 0.5)
    ops.neg_(mus)
    ops.add_(mus, 1.0)
    ops.mul_(mus, beta1)
    return mus


def _one_minus(ops: ListOps, xs: list[Tensor]) -> list[Tensor]:
    """``1 - x`` as new tensors (``-x + 1`` rounds exactly like ``1 - x``)."""
    out = ops.neg(xs)
    ops.add_(out, 1.0)
    return out


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
    if maximize:
        grads = ops.neg(grads)
    ops.add_(step, 1)
    if weight_decay != 0:
        if decoupled_weight_decay:
            ops.mul_(params, 1 - lr * weight_decay)
        else:
            grads = ops.add(grads, params, alpha=weight_decay)

    if capturable:
        exponent = ops.mul(step, momentum_decay)
        mus: list[Any] = _momentum_schedule(ops, exponent, beta1)
        exponent = ops.add(step, 1)
        ops.mul_(exponent, momentum_decay)
        mu_nexts: list[Any] = _momentum_schedule(ops, exponent, beta1)
        bias_correction2: list[Any] = _one_minus(ops, ops.pow_base(beta2, step))
    else:
        steps_now = [scalar_value(t) for t in step]
        mus = [beta1 * (1.0 - 0.5 * _SCHEDULE_BASE ** (t * momentum_decay)) for t in steps_now]
        mu_nexts = [beta1 * (1.0 - 0.5 * _SCHEDULE_BASE ** ((t + 1) * momentum_decay)) for t in steps_now]
        bias_correction2 = [1 - beta2**t for t in steps_now]

    # mu_product holds prod_{i <= t} mu_i; it stays in its own (scalar) dtype, as in torch.
    ops.mul_(mu_product, mus)

    ops.lerp_(exp_avg, grads, 1 - beta1)
    ops.mul_(exp_avg_sq, beta2)
    ops.addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)

    denom = ops.div(exp_avg_sq, bias_correction2)
    if differentiable:
        denom = ops.sqrt(denom)  # sqrt's backward reads its output: no in-place update of it
    else:
        ops.sqrt_(denom)
    ops.add_(denom, eps)

    if capturable or differentiable:
        # Step sizes as 0-dim tensors: -lr (1 - mu_t) / (1 - prod_t) for the gradient and
        # -lr mu_{t+1} / (1 - prod_t mu_{t+1}) for the momentum.
        product_next = ops.mul(mu_product, mu_nexts)
        if capturable:
            grad_size = _one_minus(ops, mus)
            ops.mul_(grad_size, -lr)
            ops.div_(grad_size, _one_minus(ops, mu_product))
            avg_size = ops.mul(mu_nexts, -lr)
            ops.div_(avg_size, _one_minus(ops, product_next))
        else:
            # A number over a tensor is the tensor's reciprocal times the number in torch.
            inverse = _one_minus(ops, mu_product)
            ops.reciprocal_(inverse)
            grad_size = ops.mul(inverse, [-lr * (1.0 - mu) for mu in mus])
            inverse_next = _one_minus(ops, product_next)
            ops.reciprocal_(inverse_next)
            avg_size = ops.mul(inverse_next, [-lr * mu_next for mu_next in mu_nexts])
        ops.addcdiv_(params, ops.mul(grads, grad_size), denom)
        ops.addcdiv_(params, ops.mul(exp_avg, avg_size), denom)
    else:
        products = [scalar_value(m) for m in mu_product]
        # With a Tensor lr these are 0-dim tensors first (torch's for-loop rounds them in lr's
        # dtype), then numbers for the kernels.
        grad_sizes = [scalar_value(-lr * (1.0 - mu) / (1.0 - prod)) for mu, prod in zip(mus, products)]
        avg_sizes = [scalar_value((-lr * mu_next) / (1.0 - prod * mu_next)) for mu_next, prod in zip(mu_nexts, products)]
        ops.addcdiv_(params, grads, denom, grad_sizes)
        ops.addcdiv_(params, exp_avg, denom, avg_sizes)


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
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, NAdam._defaults_from_signature(locals()))

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # `step` and `mu_product` are 0-dim tensors of the scalar dtype, on the CPU unless
        # capturable (torch keeps them off the accelerator to save kernel launches).
        on_device = group["capturable"]
        return {
            "step": scalar_step_tensor(p, on_device=on_device),
            "mu_product": scalar_step_tensor(p, on_device=on_device).fill_(1.0),
            "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
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
