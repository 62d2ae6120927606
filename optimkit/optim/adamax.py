"""Adamax (Kingma & Ba, 2015, section 7.1): Adam with the infinity norm in place of the RMS."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import bias_correction, descent_gradients, update_first_moment
from ._placement import state_zeros
from ._scalars import Scalars
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["Adamax", "adamax_rule"]


def adamax_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    exp_avg: list[Tensor],
    exp_inf: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    capturable: bool,
) -> None:
    """The Adamax update over lists of tensors (see :class:`Adamax` for the math).

    With ``capturable`` the bias correction is computed from ``step`` on its device (see
    :mod:`._scalars`); otherwise it is a Python number per parameter.
    """
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay)
    ops.increment_(step)
    update_first_moment(ops, exp_avg, grads, beta1)
    # u_t = max(beta2 * u_{t-1}, |g_t| + eps): eps sits inside the max, so u never reaches zero.
    ops.mul_(exp_inf, beta2)
    magnitude = ops.abs(grads)
    ops.add_(magnitude, eps)
    ops.maximum_(exp_inf, magnitude)

    s = Scalars(ops, on_device=capturable)
    step_size = s.div(-lr, bias_correction(s, beta1, s.counters(step)))  # -lr / (1 - beta1^t)
    s.addcdiv_(params, exp_avg, exp_inf, step_size)


_RULES = (v.TENSOR_LR, v.LR, v.EPS, *v.BETAS, v.WEIGHT_DECAY)


@register(
    "adamax",
    description="Adamax: Adam with an exponentially weighted infinity norm in place of the second moment.",
    torch_name="Adamax",
)
class Adamax(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(adamax_rule)

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, Adamax._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {
            "step": scalar_step_tensor(p, on_device=group["capturable"]),
            "exp_avg": state_zeros(p, slot=0),
            "exp_inf": state_zeros(p, slot=1),
        }

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        if not params:
            return
        foreach = self._use_foreach(group, params)
        if group["capturable"]:
            # torch's for-loop Adamax counts XLA as capturable, its foreach version does not.
            v.check_capturable_devices(params, [self.state[p]["step"] for p in params], supports_xla=not foreach)
        if foreach and not group["capturable"] and isinstance(group["lr"], Tensor):
            # torch's foreach Adamax reads a Tensor lr as a Python number (float64 arithmetic in the
            # step size) where its for-loop divides the tensor itself; follow each.
            group = {**group, "lr": group["lr"].item()}
        super()._update_group(group, params)


Adamax.__doc__ = (
    'Adamax (Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization", section 7.1), as '
    "``torch.optim.Adamax``.\n"
    + r"""
Adam's second moment generalised to the :math:`L^\infty` norm: a decaying maximum of gradient
magnitudes, which needs no bias correction.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\,\theta_{t-1}
     \quad(\text{minus when } \textit{maximize}) \\
   & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
   & u_t \leftarrow \max\bigl(\beta_2\, u_{t-1},\; |g_t| + \epsilon\bigr) \\
   & \theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{u_t}
   \end{aligned}

with :math:`m_0 = u_0 = 0`, learning rate :math:`\gamma` and weight decay :math:`\lambda`. State
per parameter: ``step``, ``exp_avg`` (:math:`m`) and ``exp_inf`` (:math:`u`).

"""
    + args_doc(
        {
            "betas": (
                "betas (Tuple[float, float], optional): decay rates of the running average of the "
                "gradient and of the running maximum of its magnitude (default: (0.9, 0.999))."
            ),
        },
        Adamax,
    )
    + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Adamax
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = Adamax(model.parameters(), lr=1e-2, betas=(0.8, 0.99))
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> list(opt.state[model.weight])
    ['step', 'exp_avg', 'exp_inf']
"""
)
