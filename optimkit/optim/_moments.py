r"""The pieces rules are built from, written once (as optax builds ``scale_by_adam`` from
``update_moment``): the gradient a rule follows, weight decay, and the running moments of the
Adam family and its relatives (RMSprop, Adadelta, Lamb).

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm g_t + \lambda\theta_{t-1} \ (\text{L2}) \quad\text{or}\quad
     \theta_{t-1} \leftarrow (1 - \gamma\lambda)\,\theta_{t-1} \ (\text{decoupled}) \\
   & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
     v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad
     c_t \leftarrow 1 - \beta^t \ (\text{bias correction})
   \end{aligned}

Example:
    >>> import torch
    >>> from optimkit.optim._executor import LoopOps
    >>> ops = LoopOps()
    >>> m, v, g = [torch.zeros(2)], [torch.zeros(2)], [torch.tensor([1.0, -2.0])]
    >>> update_first_moment(ops, m, g, 0.9); update_second_moment(ops, v, g, 0.99)
    >>> m[0], v[0]
    (tensor([ 0.1000, -0.2000]), tensor([0.0100, 0.0400]))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._executor import ListOps
from ._scalars import Scalars

__all__ = ["descent_gradients", "update_first_moment", "update_second_moment", "root_of_fresh", "bias_correction"]


def descent_gradients(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    *,
    maximize: bool,
    weight_decay: float | Tensor = 0,
    lr: float | Tensor = 0,
    decoupled: bool = False,
) -> list[Tensor]:
    """The gradients a rule follows: negated when maximizing, with weight decay either added to
    them (an L2 penalty) or, ``decoupled``, applied to the parameters now (``params`` shrink by
    ``1 - lr * weight_decay``; AdamW). The gradients themselves are never changed in place.
    """
    if maximize:
        grads = ops.neg(grads)
    # A Tensor weight decay acts even at 0 where its value must not be read: autograd tracks it
    # (its gradient is wanted there too), or a compiled step would branch on it (a graph break;
    # a scheduler moving the weight decay fills such a tensor in place).
    symbolic = isinstance(weight_decay, Tensor) and (weight_decay.requires_grad or torch.compiler.is_compiling())
    if not (symbolic or weight_decay != 0):
        return grads
    if decoupled:
        ops.mul_(params, 1 - lr * weight_decay)
    elif symbolic:
        # `alpha` must be a Python number: multiply instead, so the gradient reaches weight_decay.
        grads = ops.add(grads, ops.mul(params, weight_decay))
    else:
        grads = ops.add(grads, params, alpha=weight_decay)
    return grads


def update_first_moment(ops: ListOps, exp_avg: list[Tensor], grads: list[Tensor], beta: float | Tensor) -> None:
    r""":math:`m \leftarrow \beta m + (1-\beta)\, g`, in place (as an interpolation, like torch)."""
    ops.lerp_(exp_avg, grads, 1 - beta)


def update_second_moment(ops: ListOps, exp_avg_sq: list[Tensor], grads: list[Tensor], beta: float | Tensor) -> None:
    r""":math:`v \leftarrow \beta v + (1-\beta)\, g^2`, in place."""
    ops.mul_(exp_avg_sq, beta)
    if isinstance(beta, Tensor):
        # addcmul's `value` must be a Python number: scale one factor by the tensor instead.
        ops.addcmul_(exp_avg_sq, ops.mul(grads, 1 - beta), grads)
    else:
        ops.addcmul_(exp_avg_sq, grads, grads, value=1 - beta)


def root_of_fresh(ops: ListOps, fresh: list[Tensor]) -> list[Tensor]:
    """The square roots of tensors the rule has just made: computed in place (no second
    temporary, one pass less), except under ``differentiable``, where sqrt's backward reads its
    output, which the rule may go on to update in place."""
    if ops.differentiable:
        return ops.sqrt(fresh)
    ops.sqrt_(fresh)
    return fresh


def bias_correction(s: Scalars, beta: float | Tensor, steps: list[Any]) -> list[Any]:
    r""":math:`1 - \beta^t` for each step count, as ``s`` holds them."""
    return s.one_minus(s.power(beta, steps))
