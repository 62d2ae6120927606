"""Rprop: resilient backpropagation (Riedmiller & Braun, 1993)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, scalar_value
from ._placement import state_full, state_zeros
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["Rprop", "rprop_rule"]


def rprop_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    prev: list[Tensor],
    step_size: list[Tensor],
    *,
    etaminus: float,
    etaplus: float,
    step_size_min: float,
    step_size_max: float,
    maximize: bool,
) -> None:
    """The Rprop update over lists of tensors (see :class:`Rprop` for the math).

    Each element compares the sign of its gradient with the one it kept from the previous step:
    agreement grows its own step size, disagreement shrinks it and skips the move (the kept
    gradient becomes 0, so the next step neither grows nor shrinks).
    """
    if maximize:
        grads = ops.neg(grads)
    ops.increment_(step)

    # `prev` comes first: in differentiable mode LoopOps keeps a copy of its first operand, and
    # `prev` is overwritten below.
    factors = ops.mul(prev, grads)
    ops.sign_(factors)
    # sign(x) -> etaplus, etaminus or 1, tensor by tensor (no foreach kernel selects). (torch's
    # sign of NaN is 0, so a NaN gradient element counts as "no information": no move, no
    # change of its step size.)
    for factor in factors:
        factor.masked_fill_(factor > 0, etaplus)
        factor.masked_fill_(factor < 0, etaminus)
        factor.masked_fill_(factor == 0, 1)

    ops.mul_(step_size, factors)
    ops.clamp_(step_size, step_size_min, step_size_max)

    # `prev` takes this step's gradient, zeroed where the sign flipped; its sign is the move.
    ops.copy_(prev, grads)
    for kept, factor in zip(prev, factors):
        kept.masked_fill_(factor == etaminus, 0)
    ops.addcmul_(params, ops.sign(prev), step_size, value=-1)


def _check_etas(etas: tuple[float, float]) -> bool:
    return 0.0 < etas[0] < 1.0 < etas[1]


_RULES = (v.TENSOR_LR, v.LR, v.Rule("etas", _check_etas, "Invalid eta values: {0[0]}, {0[1]}"))


@register(
    "rprop",
    description="Rprop: per-element step sizes grown or shrunk by the sign agreement of successive gradients.",
    torch_name="Rprop",
)
class Rprop(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(rprop_rule)
    _torch_defaults_order = ("foreach", "maximize", "differentiable", "capturable")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, Rprop._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # torch shapes the step sizes after the gradient (strides included) when there is one.
        like = p.grad if p.grad is not None and not p.grad.is_sparse else p
        lr = scalar_value(group["lr"])
        # A complex element is two independent reals, so the imaginary part gets a step size too.
        fill = complex(lr, lr) if p.is_complex() else lr
        return {
            "step": scalar_step_tensor(p, on_device=group["capturable"]),
            "prev": state_zeros(p, slot=0),
            "step_size": state_full(like, fill, slot=1),
        }

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        if group["capturable"]:
            v.check_capturable_devices(params, lists["step"])
        return lists



Rprop.__doc__ = r"""Resilient backpropagation, as ``torch.optim.Rprop``.

Every element keeps its own step size, which only the *sign* of the gradient adjusts
(Riedmiller & Braun, 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The
RPROP Algorithm"):

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}) \\
   & \eta_t \leftarrow \begin{cases}
       \min(\eta_{t-1}\,\eta_+,\ \Gamma_{\max}) & g_{t-1}^{\text{kept}}\, g_t > 0 \\
       \max(\eta_{t-1}\,\eta_-,\ \Gamma_{\min}) & g_{t-1}^{\text{kept}}\, g_t < 0 \\
       \eta_{t-1} & \text{otherwise}
     \end{cases} \\
   & g_t^{\text{kept}} \leftarrow \begin{cases} 0 & g_{t-1}^{\text{kept}}\, g_t < 0 \\
       g_t & \text{otherwise} \end{cases} \\
   & \theta_t \leftarrow \theta_{t-1} - \eta_t \odot \operatorname{sign}(g_t^{\text{kept}})
   \end{aligned}

All operations are element-wise; :math:`\eta_0` is the learning rate and
:math:`g_0^{\text{kept}} = 0`. After a sign flip the element does not move and forgets its
gradient, so the following step leaves its step size alone. Complex parameters are treated as
pairs of real numbers. State per parameter: ``step``, ``prev`` (:math:`g^{\text{kept}}`) and
``step_size`` (:math:`\eta`).

""" + args_doc(
    {
        "lr": "lr (float, Tensor, optional): the initial step size of every element (default: 1e-2).",
        "etas": "etas (Tuple[float, float], optional): (etaminus, etaplus), the factors that shrink and grow a step size; 0 < etaminus < 1 < etaplus (default: (0.5, 1.2)).",
        "step_sizes": "step_sizes (Tuple[float, float], optional): the smallest and largest step size allowed (default: (1e-6, 50)).",
    },
    Rprop,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Rprop
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = Rprop([w], lr=0.1)
    >>> for _ in range(3):
    ...     opt.zero_grad()
    ...     w.pow(2).sum().backward()
    ...     opt.step()
    >>> opt.state[w]["step_size"]  # grew by 1.2 on each step whose gradient kept its sign
    tensor([0.1440, 0.1440])
    >>> w.detach()
    tensor([ 0.6360, -1.6360])
"""
