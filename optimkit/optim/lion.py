"""Lion (Chen et al., 2023): the sign of an interpolated momentum, with decoupled weight decay."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import descent_gradients
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT

__all__ = ["Lion", "lion_rule"]


def lion_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    exp_avg: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The Lion update over lists of tensors (see :class:`Lion` for the math)."""
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay, lr=lr, decoupled=True)
    # The step direction interpolates with beta1; the stored momentum then moves with beta2.
    direction = ops.mul(exp_avg, beta1)
    ops.add_(direction, grads, alpha=1 - beta1)
    ops.sign_(direction)
    ops.add_(params, direction, alpha=-lr)
    ops.mul_(exp_avg, beta2)
    ops.add_(exp_avg, grads, alpha=1 - beta2)


_RULES = (v.LR, *v.BETAS, v.WEIGHT_DECAY)


@register(
    "lion",
    description="Lion: evolved sign momentum, steps of size lr in every coordinate, decoupled weight decay.",
)
class Lion(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused", "state_dtype", "stochastic_rounding")
    _elementwise = True
    _rule = staticmethod(lion_rule)
    _lean_states = {"exp_avg": True}

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        maximize: bool = False,
        *,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
        state_dtype: torch.dtype | str | None = None,
        stochastic_rounding: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        # optimkit's own options after torch's checks, so torch's errors come first.
        state_dtype = v.check_lean_options(state_dtype, stochastic_rounding, foreach=foreach, fused=fused,
                                           differentiable=differentiable)
        super().__init__(params, Lion._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {"exp_avg": state_zeros(p, slot=0)}


Lion.__doc__ = r"""Lion, "EvoLved Sign Momentum" (Chen et al., 2023, "Symbolic Discovery of Optimization
Algorithms"), with the signature of Cerebras' ``Lion``.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}) \\
   & c_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
   & \theta_t \leftarrow \theta_{t-1}(1 - \gamma\lambda) - \gamma\, \operatorname{sign}(c_t) \\
   & m_t \leftarrow \beta_2 m_{t-1} + (1-\beta_2)\, g_t
   \end{aligned}

Every coordinate moves by exactly :math:`\gamma` (or not at all where :math:`c_t = 0`), so Lion
wants a learning rate 3-10x smaller than AdamW's and a weight decay correspondingly larger.
Complex parameters are treated as pairs of reals. State per parameter: ``exp_avg``
(:math:`m`).

""" + args_doc(
    {
        "lr": "lr (float, optional): learning rate, the size of every coordinate's step (default: 0.0001).",
        "betas": "betas (Tuple[float, float], optional): :math:`\\beta_1` interpolates the step direction, :math:`\\beta_2` decays the stored momentum (default: (0.9, 0.99)).",
        "weight_decay": "weight_decay (float, optional): decoupled weight decay :math:`\\lambda`: the weights shrink by :math:`\\gamma\\lambda` of themselves each step (default: 0.0).",
    },
    Lion,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Lion
    >>> w = torch.nn.Parameter(torch.zeros(3))
    >>> opt = Lion([w], lr=0.1)
    >>> w.grad = torch.tensor([1.0, -2.0, 0.0])
    >>> opt.step()
    >>> w.detach()
    tensor([-0.1000,  0.1000,  0.0000])
    >>> opt.state_names_to_sparsify()
    ['exp_avg']
"""
