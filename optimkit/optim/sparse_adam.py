"""SparseAdam: Adam restricted to the entries a sparse gradient stores."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import NOT_FILLED, register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import bias_correction
from ._placement import state_zeros
from ._scalars import Scalars
from ._sparse import add_at_, values_at
from .optimizer import Optimizer, ParamsT

__all__ = ["SparseAdam", "sparse_adam_rule"]


def sparse_adam_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[int],
    exp_avg: list[Tensor],
    exp_avg_sq: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    maximize: bool = False,
) -> None:
    """The SparseAdam update over lists of tensors (see :class:`SparseAdam` for the math).

    ``grads`` are sparse COO tensors and ``step`` the (already advanced) step counts, as Python
    ints. All arithmetic happens on the stored values of the gradients (one row per stored
    index); the moments and the parameters change only at those indices.
    """
    if maximize:
        grads = ops.neg(grads)
    # The update is not linear in the gradient, so duplicate indices must be summed first.
    grads = [g.coalesce() for g in grads]
    values = [g._values() for g in grads]
    # A gradient that stores nothing leaves its parameter and moments alone (its step still counts).
    keep = [index for index, value in enumerate(values) if value.numel() > 0]
    if len(keep) != len(values):
        params, grads, values, step, exp_avg, exp_avg_sq = (
            [items[i] for i in keep] for items in (params, grads, values, step, exp_avg, exp_avg_sq)
        )
    if not params:
        return

    # m <- m + (1 - beta1) (g - m), and v likewise with g^2, at the stored indices only.
    old_avg = [values_at(m, g) for m, g in zip(exp_avg, grads)]
    avg_change = ops.add(values, old_avg, alpha=-1)
    ops.mul_(avg_change, 1 - beta1)
    for m, g, change in zip(exp_avg, grads, avg_change):
        add_at_(m, g, change)
    old_avg_sq = [values_at(v, g) for v, g in zip(exp_avg_sq, grads)]
    avg_sq_change = ops.mul(values, values)
    ops.sub_(avg_sq_change, old_avg_sq)
    ops.mul_(avg_sq_change, 1 - beta2)
    for v, g, change in zip(exp_avg_sq, grads, avg_sq_change):
        add_at_(v, g, change)

    # The new moments at those indices, rebuilt from the changes in place (no second lookup).
    numerator = avg_change
    ops.add_(numerator, old_avg)
    denominator = avg_sq_change
    ops.add_(denominator, old_avg_sq)
    ops.sqrt_(denominator)
    ops.add_(denominator, eps)

    # lr sqrt(1 - beta2^t) / (1 - beta1^t), with Python numbers (`step` is a Python int here).
    s = Scalars(ops, on_device=False)
    step_sizes = s.div(s.mul(lr, s.sqrt(bias_correction(s, beta2, step))), bias_correction(s, beta1, step))
    ops.div_(numerator, denominator)
    ops.mul_(numerator, [-s for s in step_sizes])
    for p, g, change in zip(params, grads, numerator):
        add_at_(p, g, change)


_RULES = (
    v.TENSOR_LR,
    v.Rule("lr", lambda lr: 0.0 < lr, "Invalid learning rate: {}"),
    v.Rule("eps", lambda eps: 0.0 < eps, "Invalid epsilon value: {}"),
    *v.BETAS,
)


# No foreach version: torch has no foreach kernels for sparse tensors, and each gradient has its
# own set of indices, so the rule runs tensor by tensor (the signature has no `foreach`).
@register(
    "sparseadam",
    description="SparseAdam: Adam updating only the entries present in sparse gradients (nn.Embedding(sparse=True)).",
    torch_name="SparseAdam",
)
class SparseAdam(Optimizer):
    _rule = staticmethod(sparse_adam_rule)
    _supports_complex = False
    _supports_sparse = True
    # torch's SparseAdam reads `maximize` with a default (the rule's) instead of filling it.
    _old_checkpoint_fills = {"maximize": NOT_FILLED}

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, SparseAdam._defaults_from_signature(locals()))

        # [group index, index in group] of every parameter the algorithm cannot take.
        sparse_params: list[list[int]] = []
        complex_params: list[list[int]] = []
        for group_index, group in enumerate(self.param_groups):
            for param_index, p in enumerate(group["params"]):
                if p.is_sparse:
                    sparse_params.append([group_index, param_index])
                if p.is_complex():
                    complex_params.append([group_index, param_index])
        if sparse_params:
            raise ValueError(
                f"Sparse params at indices {sparse_params}: SparseAdam requires dense parameter tensors"
            )
        if complex_params:
            raise ValueError(
                f"Complex params at indices {complex_params}: SparseAdam does not support complex parameters"
            )

    def _check_param(self, group: dict[str, Any], p: Tensor) -> None:
        if p.grad is not None and not p.grad.is_sparse:
            raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam instead")

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # torch counts SparseAdam's steps with a plain Python int (not a tensor).
        return {
            "step": 0,
            "exp_avg": state_zeros(p, slot=0),
            "exp_avg_sq": state_zeros(p, slot=1),
        }

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        # An int cannot be advanced in place by the rule: count the step here, for every
        # parameter with a gradient (even one whose gradient stores no value), as torch does.
        for p in params:
            self.state[p]["step"] += 1
        super()._update_group(group, params)

SparseAdam.__doc__ = r"""Adam for sparse gradients, as ``torch.optim.SparseAdam``.

Meant for dense parameters whose gradients come in sparse COO layout, such as the weight of
``nn.Embedding(sparse=True)``. Only the entries the gradient stores are touched: the moments and
the parameter of every other entry stay as they are, which makes the update cheap when few rows
are used per step, and makes it differ from Adam (which would decay every moment). A stored
entry counts as present even when its value is zero. With :math:`S_t` the stored indices of
:math:`g_t` (duplicates summed):

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}) \\
   & \text{for } i \in S_t: \\
   & \qquad m_{t,i} \leftarrow m_{t-1,i} + (1-\beta_1)(g_{t,i} - m_{t-1,i}), \qquad
     v_{t,i} \leftarrow v_{t-1,i} + (1-\beta_2)(g_{t,i}^2 - v_{t-1,i}) \\
   & \qquad \theta_{t,i} \leftarrow \theta_{t-1,i} - \gamma\,\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
     \frac{m_{t,i}}{\sqrt{v_{t,i}} + \epsilon}
   \end{aligned}

where :math:`t` counts the steps on which the parameter had a gradient. A dense gradient raises
``RuntimeError``; sparse or complex parameters raise ``ValueError`` at construction. State per
parameter: ``step`` (a Python int), ``exp_avg`` (:math:`m`) and ``exp_avg_sq`` (:math:`v`).

""" + args_doc(
    {
        "lr": "lr (float, Tensor, optional): learning rate, > 0 (default: 1e-3).",
        "eps": "eps (float, optional): added to the denominator for numerical stability, > 0 (default: 1e-8).",
    },
    SparseAdam,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import SparseAdam
    >>> embedding = torch.nn.Embedding(10, 3, sparse=True)
    >>> opt = SparseAdam(embedding.parameters(), lr=0.1)
    >>> before = embedding.weight.detach().clone()
    >>> embedding(torch.tensor([1, 4])).sum().backward()
    >>> opt.step()
    >>> changed = (embedding.weight != before).any(dim=1)
    >>> changed.nonzero().flatten().tolist()  # only the rows that were looked up
    [1, 4]
"""
