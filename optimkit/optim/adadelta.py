"""Adadelta (Zeiler, 2012): step sizes from the ratio of two running RMS values."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import descent_gradients, root_of_fresh, update_second_moment
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["Adadelta", "adadelta_rule"]


def adadelta_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    square_avg: list[Tensor],
    acc_delta: list[Tensor],
    *,
    lr: float | Tensor,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    capturable: bool,
) -> None:
    """The Adadelta update over lists of tensors (see :class:`Adadelta` for the math)."""
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay)
    ops.increment_(step)
    update_second_moment(ops, square_avg, grads, rho)
    rms_grad = root_of_fresh(ops, ops.add(square_avg, eps))
    delta = root_of_fresh(ops, ops.add(acc_delta, eps))
    ops.div_(delta, rms_grad)
    ops.mul_(delta, grads)

    update_second_moment(ops, acc_delta, delta, rho)

    if capturable and isinstance(lr, Tensor):
        # A device-resident learning rate is multiplied in as a tensor: an `alpha` would have to be
        # read back to the host, which a captured graph cannot do.
        ops.mul_(delta, -lr)
        ops.add_(params, delta)
    else:
        ops.add_(params, delta, alpha=-lr)


_RULES = (
    v.TENSOR_LR,
    v.LR,
    v.Rule("rho", lambda rho: 0.0 <= rho <= 1.0, "Invalid rho value: {}"),
    v.EPS,
    v.WEIGHT_DECAY,
)


@register(
    "adadelta",
    description="Adadelta: per-coordinate steps scaled by the RMS of past updates over the RMS of gradients.",
    torch_name="Adadelta",
)
class Adadelta(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(adadelta_rule)
    _torch_defaults_order = ("maximize", "capturable", "foreach")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, Adadelta._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {
            "step": scalar_step_tensor(p, on_device=group["capturable"]),
            "square_avg": state_zeros(p, slot=0),
            "acc_delta": state_zeros(p, slot=1),
        }

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        if group["capturable"]:
            # torch's Adadelta leaves XLA out of its list of capturable devices.
            v.check_capturable_devices(params, lists["step"], supports_xla=False)
        return lists



Adadelta.__doc__ = (
    'Adadelta (Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method"), as ``torch.optim.Adadelta``.\n'
    + r"""
Two running averages decide the size of each coordinate's step: one of squared gradients, and
one of squared past updates, so the step carries the units of the parameter.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\,\theta_{t-1}
     \quad(\text{minus when } \textit{maximize}) \\
   & v_t \leftarrow \rho\, v_{t-1} + (1-\rho)\, g_t^2 \\
   & \Delta_t \leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\; g_t \\
   & u_t \leftarrow \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2 \\
   & \theta_t \leftarrow \theta_{t-1} - \gamma\, \Delta_t
   \end{aligned}

with :math:`v_0 = u_0 = 0`, learning rate :math:`\gamma` (a plain scale of the update; Zeiler's
method has none, i.e. :math:`\gamma = 1`) and weight decay :math:`\lambda`. State per parameter:
``step``, ``square_avg`` (:math:`v`) and ``acc_delta`` (:math:`u`).

"""
    + args_doc(
        {
            "lr": "lr (float, Tensor, optional): factor applied to the update before it reaches the parameters (default: 1.0).",
            "rho": "rho (float, optional): decay rate of both running averages, in [0, 1]; larger values average over more steps (default: 0.9).",
            "capturable": (
                "capturable (bool, optional): keep ``step`` on the parameters' device so the step can be "
                "captured in a CUDA graph (default: False)."
            ),
        },
        Adadelta,
    )
    + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Adadelta
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = Adadelta(model.parameters(), rho=0.95)
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> list(opt.state[model.weight])
    ['step', 'square_avg', 'acc_delta']
"""
)
