"""RMSprop (Hinton, 2012): the gradient divided by a running root mean square of its past values,
optionally centered (Graves, 2013) and with momentum."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, scalar_value
from ._moments import descent_gradients, update_first_moment, update_second_moment
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["RMSprop", "rmsprop_rule"]


def rmsprop_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    square_avg: list[Tensor],
    momentum_buffer: list[Tensor] | None = None,
    grad_avg: list[Tensor] | None = None,
    *,
    lr: float | Tensor,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
    capturable: bool,
) -> None:
    """The RMSprop update over lists of tensors (see :class:`RMSprop` for the math)."""
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay)
    ops.increment_(step)
    update_second_moment(ops, square_avg, grads, alpha)
    if centered:
        assert grad_avg is not None
        update_first_moment(ops, grad_avg, grads, alpha)
        # The variance estimate E[g^2] - E[g]^2 instead of the raw second moment.
        avg = ops.clone(square_avg)
        ops.addcmul_(avg, grad_avg, grad_avg, value=-1)
        if ops.differentiable:
            avg = ops.sqrt(avg)  # sqrt's backward reads its output, which `eps` is added to next
        else:
            ops.sqrt_(avg)
    else:
        avg = ops.sqrt(square_avg)
    ops.add_(avg, eps)

    # torch reads a Tensor lr's value, except where that would break graph capture (capturable).
    # We also keep it a tensor when autograd tracks it, so meta-gradients reach it (torch's
    # for-loop raises a TypeError there instead).
    keep_tensor_lr = isinstance(lr, Tensor) and (capturable or lr.requires_grad)
    if momentum > 0:
        assert momentum_buffer is not None
        ops.mul_(momentum_buffer, momentum)
        ops.addcdiv_(momentum_buffer, grads, avg)
        if keep_tensor_lr:
            ops.add_(params, ops.mul(momentum_buffer, -lr))
        else:
            ops.add_(params, momentum_buffer, alpha=-scalar_value(lr))
    elif keep_tensor_lr:
        ops.div_(avg, -lr)
        ops.addcdiv_(params, grads, avg)
    else:
        ops.addcdiv_(params, grads, avg, value=-scalar_value(lr))


_RULES = (
    v.TENSOR_LR,
    v.LR,
    v.EPS,
    v.non_negative("momentum", "Invalid momentum value: {}"),
    v.WEIGHT_DECAY,
    v.non_negative("alpha", "Invalid alpha value: {}"),
)


@register(
    "rmsprop",
    description="RMSprop: steps scaled by a running RMS of the gradient, optionally centered and with momentum.",
    torch_name="RMSprop",
)
class RMSprop(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(rmsprop_rule)
    _torch_defaults_order = ("momentum", "alpha", "eps", "centered", "weight_decay")
    # torch's __setstate__ also fills `momentum`, which is no flag.
    _old_checkpoint_fills = {"momentum": 0}

    # torch's RMSprop takes its flags positionally (no `*`), unlike most of torch.optim.
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, RMSprop._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": scalar_step_tensor(p, on_device=group["capturable"]),
            "square_avg": state_zeros(p, slot=0),
        }
        if group["momentum"] > 0:
            state["momentum_buffer"] = state_zeros(p, slot=1)
        if group["centered"]:
            state["grad_avg"] = state_zeros(p, slot=2)
        return state

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        if group["capturable"]:
            v.check_capturable_devices(params, lists["step"])
        if group["momentum"] > 0 and None in lists.get("momentum_buffer", [None]):
            # Momentum turned on after the state was made (OneCycleLR cycling a group built with
            # momentum=0, or a state made by preinitialize()): a zero buffer, as a fresh state has.
            # (torch's step fails there with KeyError: 'momentum_buffer'.)
            lists["momentum_buffer"] = [
                self.state[p].setdefault("momentum_buffer", state_zeros(p, slot=1))
                for p in params
            ]
        return lists



RMSprop.__doc__ = r"""RMSprop (Hinton, 2012, lecture 6e of "Neural Networks for Machine Learning"), as
``torch.optim.RMSprop``.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
     \quad(\text{minus when } \textit{maximize}) \\
   & v_t \leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2 \\
   & \textbf{if } \textit{centered}: \quad
     \bar g_t \leftarrow \alpha \bar g_{t-1} + (1-\alpha) g_t, \qquad
     \tilde v_t \leftarrow v_t - \bar g_t^2 \qquad \textbf{else}: \quad \tilde v_t \leftarrow v_t \\
   & \textbf{if } \mu > 0: \quad b_t \leftarrow \mu b_{t-1} + \frac{g_t}{\sqrt{\tilde v_t} + \epsilon},
     \quad \theta_t \leftarrow \theta_{t-1} - \gamma b_t \\
   & \textbf{else}: \quad \theta_t \leftarrow \theta_{t-1} - \gamma\, \frac{g_t}{\sqrt{\tilde v_t} + \epsilon}
   \end{aligned}

with learning rate :math:`\gamma`, smoothing constant :math:`\alpha`, momentum :math:`\mu` and
weight decay :math:`\lambda`. Centering (Graves, 2013, "Generating Sequences With Recurrent Neural
Networks") divides by an estimate of the gradient's standard deviation instead of its RMS. State per
parameter: ``step``, ``square_avg`` (:math:`v`), ``momentum_buffer`` (:math:`b`, only when
``momentum > 0``) and ``grad_avg`` (:math:`\bar g`, only when centered).

""" + args_doc(
    {
        "lr": "lr (float, Tensor, optional): learning rate :math:`\\gamma` (default: 1e-2).",
        "alpha": "alpha (float, optional): smoothing constant :math:`\\alpha` of the running averages (default: 0.99).",
        "momentum": "momentum (float, optional): momentum factor :math:`\\mu` (default: 0).",
        "centered": "centered (bool, optional): divide by the running standard deviation of the gradient rather than its RMS (default: False).",
        "capturable": "capturable (bool, optional): keep ``step`` (and a Tensor ``lr``) on the parameters' device so the step can be captured in a CUDA graph (default: False).",
    },
    RMSprop,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import RMSprop
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = RMSprop(model.parameters(), lr=1e-2, momentum=0.9, centered=True)
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> list(opt.state[model.weight])
    ['step', 'square_avg', 'momentum_buffer', 'grad_avg']
    >>> opt.state_names_to_sparsify()
    ['square_avg', 'momentum_buffer', 'grad_avg']
"""
