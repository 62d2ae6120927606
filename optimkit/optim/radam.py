"""RAdam (Liu et al., 2020): Adam whose adaptive step is switched on only once the variance of
its second-moment estimate is tractable, and rectified from then on."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, scalar_value
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["RAdam", "radam_rule"]

# The adaptive step is used once the length of the approximated simple moving average exceeds
# this (Liu et al. use 4; torch, and so this implementation, use 5).
_RHO_THRESHOLD = 5.0


def _rectification(rho_t: Any, rho_inf: float) -> Any:
    """``sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`` for a number."""
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def _one_minus(ops: ListOps, xs: list[Tensor]) -> list[Tensor]:
    """``1 - x`` as new tensors (``-x + 1`` rounds exactly like ``1 - x``)."""
    out = ops.neg(xs)
    ops.add_(out, 1.0)
    return out


def _pick(items: list[Any], indices: list[int]) -> list[Any]:
    return [items[i] for i in indices]


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
    if maximize:
        grads = ops.neg(grads)
    ops.add_(step, 1)
    if weight_decay != 0:
        if decoupled_weight_decay:
            ops.mul_(params, 1 - lr * weight_decay)
        else:
            grads = ops.add(grads, params, alpha=weight_decay)

    ops.lerp_(exp_avg, grads, 1 - beta1)
    ops.mul_(exp_avg_sq, beta2)
    ops.addcmul_(exp_avg_sq, grads, grads, value=1 - beta2)

    # The longest possible simple moving average the exponential one approximates.
    rho_inf = 2 / (1 - beta2) - 1

    if capturable:
        bias_correction1 = _one_minus(ops, ops.pow_base(beta1, step))
        beta2_power = ops.pow_base(beta2, step)
        bias_correction2 = _one_minus(ops, beta2_power)
        update = ops.div(exp_avg, bias_correction1)
        ops.mul_(update, lr)
        # rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        rho_t = ops.mul(step, 2)
        ops.mul_(rho_t, beta2_power)
        ops.div_(rho_t, bias_correction2)
        ops.neg_(rho_t)
        ops.add_(rho_t, rho_inf)
        rect = ops.add(rho_t, -4.0)
        ops.mul_(rect, ops.add(rho_t, -2.0))
        ops.mul_(rect, rho_inf)
        ops.div_(rect, ops.mul(rho_t, (rho_inf - 4) * (rho_inf - 2)))
        ops.sqrt_(rect)  # NaN while rho_t < 4; `where` below never selects it then
        denom = ops.sqrt(exp_avg_sq)
        ops.add_(denom, eps)
        adaptive = ops.div(ops.sqrt(bias_correction2), denom)
        factor = ops.where(ops.gt(rho_t, _RHO_THRESHOLD), ops.mul(rect, adaptive), 1.0)
        ops.mul_(update, factor)
        ops.add_(params, update, alpha=-1.0)
        return

    steps_now = [scalar_value(t) for t in step]
    bias_correction1 = [1 - beta1**t for t in steps_now]
    bias_correction2 = [1 - beta2**t for t in steps_now]
    rho_t = [rho_inf - 2 * t * (beta2**t) / bc2 for t, bc2 in zip(steps_now, bias_correction2)]

    update = ops.div(exp_avg, bias_correction1)
    ops.mul_(update, lr)
    rectified = [i for i, rho in enumerate(rho_t) if rho > _RHO_THRESHOLD]
    if rectified:
        # Adaptive part: sqrt(1 - beta2^t) / (sqrt(v_t) + eps), computed like torch's for-loop
        # (a number over a tensor is the tensor's reciprocal times the number).
        denom = ops.sqrt(_pick(exp_avg_sq, rectified))
        ops.add_(denom, eps)
        ops.reciprocal_(denom)
        adaptive = ops.mul(denom, [bias_correction2[i] ** 0.5 for i in rectified])
        chosen = _pick(update, rectified)
        ops.mul_(chosen, adaptive)
        ops.mul_(chosen, [_rectification(rho_t[i], rho_inf) for i in rectified])
    ops.add_(params, update, alpha=-1.0)


_RULES = (v.TENSOR_LR, v.LR, v.EPS, *v.BETAS, v.WEIGHT_DECAY)


@register(
    "radam",
    description="RAdam: Adam with a variance rectification term, plain momentum SGD during warm-up.",
    torch_name="RAdam",
)
class RAdam(Optimizer):
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
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, RAdam._defaults_from_signature(locals()))

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {
            "step": scalar_step_tensor(p, on_device=group["capturable"]),
            "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
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
