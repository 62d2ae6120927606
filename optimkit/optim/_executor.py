"""How an update rule runs: one tensor at a time, or with ``torch._foreach_*`` over buckets.

torch writes most algorithms three times (a for-loop, a ``foreach`` version and a fused kernel).
Here each algorithm is written once, as a *rule*: a function over lists of tensors that only uses
the list operations of :class:`ListOps`. The executor picks an implementation of those operations:

* :class:`LoopOps` applies each operation tensor by tensor; the executor calls the rule once per
  parameter (lists of length one), which is the order torch's for-loop implementations use.
* :class:`ForeachOps` maps each operation to one ``torch._foreach_*`` call; the executor calls the
  rule once per (device, dtype) bucket of parameters.

A rule's signature is ``rule(ops, params, grads, **per_param_lists, **hyperparameters)``.
Per-parameter lists (state tensors, flags) are bucketed together with ``params``.

Example:
    >>> import torch
    >>> from optimkit.optim._executor import execute
    >>> def plain_sgd(ops, params, grads, *, lr):
    ...     ops.add_(params, grads, alpha=-lr)
    >>> p = torch.ones(2); g = torch.full((2,), 0.5)
    >>> execute(plain_sgd, [p], [g], {}, {"lr": 0.1}, foreach=True)
    >>> p
    tensor([0.9500, 0.9500])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar, Union

import torch
from torch import Tensor
from torch.utils._foreach_utils import (
    _get_foreach_kernels_supported_devices,
    _get_fused_kernels_supported_devices,
)

__all__ = [
    "ListOps",
    "LoopOps",
    "ForeachOps",
    "execute",
    "execute_fused",
    "default_foreach",
    "fused_supported_devices",
    "check_fused_device",
    "bucket_by_device_and_dtype",
    "scalar_value",
    "squeezed",
]

# A second operand: a list of tensors, one number, a 0-dim tensor, or one number per tensor.
Operand = Union[Sequence[Tensor], Sequence[float], float, Tensor]
_F = TypeVar("_F", bound=Callable[..., Any])

# Only plain tensors and Parameters take the foreach path by default (tensor subclasses such as
# DTensor bring their own dispatch), as in torch's _default_to_fused_or_foreach.
_FOREACH_TYPES = (Tensor, torch.nn.Parameter)


def scalar_value(value: Any) -> Any:
    """A Python number for a 0-dim CPU tensor (``step``), the value itself otherwise.

    While compiling, tensors stay tensors so that the graph does not specialise on them.
    """
    if isinstance(value, Tensor) and not torch.compiler.is_compiling():
        return value.item()
    return value


def squeezed(value: Any) -> Any:
    """A hyperparameter as torch's optimizers use it: a 1-element Tensor as a 0-dim Tensor
    (kept a tensor, so its dtype takes part in the arithmetic), anything else unchanged."""
    if isinstance(value, Tensor) and value.dim() != 0:
        return value.squeeze()
    return value


def _as_list(operand: Operand, length: int) -> list[Any]:
    if isinstance(operand, (list, tuple)):
        return list(operand)
    return [operand] * length


class ListOps:
    """The operations a rule may use, each over a list of tensors.

    In-place operations end with ``_`` and return nothing; the others return a new list.
    Second operands may be a list of tensors, a number, a 0-dim tensor, or a list of numbers
    (one per tensor).
    """

    differentiable: bool = False

    def neg(self, xs: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError

    def add(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> list[Tensor]:
        raise NotImplementedError

    def add_(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> None:
        raise NotImplementedError

    def sub_(self, xs: list[Tensor], other: Operand) -> None:
        raise NotImplementedError

    def mul(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        raise NotImplementedError

    def mul_(self, xs: list[Tensor], other: Operand) -> None:
        raise NotImplementedError

    def div(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        raise NotImplementedError

    def div_(self, xs: list[Tensor], other: Operand) -> None:
        raise NotImplementedError

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor | Sequence[float]) -> None:
        raise NotImplementedError

    def addcmul_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        raise NotImplementedError

    def addcdiv_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        raise NotImplementedError

    def sqrt(self, xs: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError

    def maximum_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        raise NotImplementedError

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        raise NotImplementedError

    def pow_base(self, base: float | Tensor, exponents: list[Tensor]) -> list[Tensor]:
        """``base ** e`` for each tensor ``e`` (used for bias corrections on device)."""
        raise NotImplementedError

    def reciprocal_(self, xs: list[Tensor]) -> None:
        raise NotImplementedError

    def sqrt_(self, xs: list[Tensor]) -> None:
        raise NotImplementedError

    def neg_(self, xs: list[Tensor]) -> None:
        raise NotImplementedError

    # Added for Lamb and Lion (reductions, sign, selection).
    def norm(self, xs: list[Tensor]) -> list[Tensor]:
        """The 2-norm of each tensor, as 0-dim tensors of its dtype (one reduction per tensor)."""
        raise NotImplementedError

    def clamp_max(self, xs: list[Tensor], bound: float) -> list[Tensor]:
        raise NotImplementedError

    def sign_(self, xs: list[Tensor]) -> None:
        raise NotImplementedError

    def gt(self, xs: list[Tensor], value: float) -> list[Tensor]:
        """Boolean tensors ``x > value``; they carry no gradient."""
        raise NotImplementedError

    def where(self, conditions: list[Tensor], xs: list[Tensor], other: Operand) -> list[Tensor]:
        """``x`` where the condition holds, ``other`` (tensors or a number) elsewhere."""
        raise NotImplementedError

    # Added for Adamax (the infinity norm of the gradient).
    def abs(self, xs: list[Tensor]) -> list[Tensor]:
        """``|x|`` for each tensor, as new tensors."""
        raise NotImplementedError

    # Added for Adafactor and Muon (reductions along a dim, matrix products, per-tensor alphas).
    def norm_dim(self, xs: list[Tensor], dim: int, keepdim: bool = True) -> list[Tensor]:
        """The 2-norm of each tensor along ``dim``, as new tensors."""
        raise NotImplementedError

    def mean(self, xs: list[Tensor], dim: int, keepdim: bool = True) -> list[Tensor]:
        raise NotImplementedError

    def matmul(self, xs: list[Tensor], ys: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError

    def addmm(self, xs: list[Tensor], m1s: list[Tensor], m2s: list[Tensor], *, beta: float = 1,
              alpha: float = 1) -> list[Tensor]:
        """``beta * x + alpha * (m1 @ m2)`` for each triple of matrices, as new tensors."""
        raise NotImplementedError

    def clamp_min_(self, xs: list[Tensor], bound: float) -> None:
        raise NotImplementedError

    def rsqrt_(self, xs: list[Tensor]) -> None:
        raise NotImplementedError

    def clone(self, xs: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError

    def lerp(self, xs: list[Tensor], ends: list[Tensor], weight: float) -> list[Tensor]:
        """``x + weight * (end - x)`` as new tensors."""
        raise NotImplementedError

    def to_dtype(self, xs: list[Tensor], dtype: torch.dtype) -> list[Tensor]:
        """``x.to(dtype)``: like torch, a tensor already of ``dtype`` is returned itself."""
        raise NotImplementedError

    def add_scaled_(self, xs: list[Tensor], others: list[Tensor], alphas: Sequence[float]) -> None:
        """``x += alpha * other`` with one number ``alpha`` per tensor."""
        raise NotImplementedError

    # Added for Rprop, ASGD and SparseAdam (element-wise branching, clamping, sparse gradients).
    def sign(self, xs: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError

    def lt(self, xs: list[Tensor], value: float) -> list[Tensor]:
        """Boolean tensors ``x < value``; they carry no gradient."""
        raise NotImplementedError

    def eq(self, xs: list[Tensor], value: float) -> list[Tensor]:
        """Boolean tensors ``x == value``; they carry no gradient."""
        raise NotImplementedError

    def masked_fill_(self, xs: list[Tensor], masks: list[Tensor], value: float) -> None:
        """Set the elements of ``x`` where ``mask`` holds to ``value``."""
        raise NotImplementedError

    def clamp_(self, xs: list[Tensor], min: float | None = None, max: float | None = None) -> None:  # noqa: A002
        raise NotImplementedError

    def pow_(self, xs: list[Tensor], exponent: float) -> None:
        raise NotImplementedError

    def fill_(self, xs: list[Tensor], values: Operand) -> None:
        """Overwrite every element of ``x`` with one number (or 0-dim tensor) per tensor."""
        raise NotImplementedError

    # Sparse COO gradients (SparseAdam). There are no foreach kernels for sparse tensors; the
    # foreach versions loop, and rules that need them run tensor by tensor anyway.
    def coalesce(self, xs: list[Tensor]) -> list[Tensor]:
        """Each sparse tensor with duplicate indices summed, indices sorted."""
        raise NotImplementedError

    def sparse_values(self, xs: list[Tensor]) -> list[Tensor]:
        """The stored values of each (coalesced) sparse tensor, ``nnz`` rows."""
        raise NotImplementedError

    def sparse_mask(self, xs: list[Tensor], masks: list[Tensor]) -> list[Tensor]:
        """The values of dense ``x`` at the indices of sparse ``mask``, in the mask's order."""
        raise NotImplementedError

    def sparse_add_(self, xs: list[Tensor], masks: list[Tensor], values: list[Tensor]) -> None:
        """Add ``values`` to dense ``x`` at the indices of sparse ``mask`` (a scatter-add)."""
        raise NotImplementedError

    # Added for the Hugging Face-style Adafactor (outer product of row and column factors).
    def unsqueeze(self, xs: list[Tensor], dim: int) -> list[Tensor]:
        """Each tensor with a new dimension of size one at ``dim``, as a view (no copy)."""
        raise NotImplementedError


class LoopOps(ListOps):
    """Tensor-by-tensor operations (torch's "for-loop" implementation).

    With ``differentiable=True`` the tensor operands of in-place updates, and the results of
    operations whose backward reads their output, are cloned, so a later in-place update does not
    invalidate a tensor autograd saved.
    """

    def __init__(self, differentiable: bool = False) -> None:
        self.differentiable = differentiable

    def _saved(self, t: Tensor) -> Tensor:
        return t.clone() if self.differentiable else t

    def neg(self, xs: list[Tensor]) -> list[Tensor]:
        return [torch.neg(x) for x in xs]

    def add(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> list[Tensor]:
        return [x.add(o, alpha=alpha) for x, o in zip(xs, _as_list(other, len(xs)))]

    def add_(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> None:
        for x, o in zip(xs, _as_list(other, len(xs))):
            x.add_(o, alpha=alpha)

    def sub_(self, xs: list[Tensor], other: Operand) -> None:
        for x, o in zip(xs, _as_list(other, len(xs))):
            x.sub_(o)

    def mul(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return [self._saved(x).mul(o) for x, o in zip(xs, _as_list(other, len(xs)))]

    def mul_(self, xs: list[Tensor], other: Operand) -> None:
        for x, o in zip(xs, _as_list(other, len(xs))):
            x.mul_(o)

    def div(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return [self._saved(x).div(o) for x, o in zip(xs, _as_list(other, len(xs)))]

    def div_(self, xs: list[Tensor], other: Operand) -> None:
        for x, o in zip(xs, _as_list(other, len(xs))):
            x.div_(o)

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor | Sequence[float]) -> None:
        for x, e, w in zip(xs, ends, _as_list(weight, len(xs))):
            x.lerp_(e, w)

    def addcmul_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        for x, a, b, v in zip(xs, t1, t2, _as_list(value, len(xs))):
            x.addcmul_(self._saved(a), self._saved(b), value=v)

    def addcdiv_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        for x, a, b, v in zip(xs, t1, t2, _as_list(value, len(xs))):
            x.addcdiv_(self._saved(a), self._saved(b), value=v)

    def sqrt(self, xs: list[Tensor]) -> list[Tensor]:
        # sqrt's backward reads its output, which rules go on to update in place.
        return [self._saved(x.sqrt()) for x in xs]

    def maximum_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        # maximum's backward reads both inputs; rules go on to update both in place (AMSGrad's
        # running maximum and exp_avg_sq, at the next step).
        for x, y in zip(xs, ys):
            x.copy_(torch.maximum(self._saved(x), self._saved(y)))

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        for x, y in zip(xs, ys):
            x.copy_(y)

    def pow_base(self, base: float | Tensor, exponents: list[Tensor]) -> list[Tensor]:
        # pow's backward reads its output, which rules go on to update in place, and, for a
        # Tensor base that requires grad (betas), the exponent: the `step` counter, which the
        # next step advances in place.
        return [self._saved(torch.pow(base, self._saved(e))) for e in exponents]

    def reciprocal_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.reciprocal_()

    def sqrt_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.sqrt_()

    def neg_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.neg_()

    def norm(self, xs: list[Tensor]) -> list[Tensor]:
        # The norm's backward reads its input, which rules go on to update in place (params).
        return [torch.linalg.vector_norm(self._saved(x)) for x in xs]

    def clamp_max(self, xs: list[Tensor], bound: float) -> list[Tensor]:
        return [torch.clamp_max(x, bound) for x in xs]

    def sign_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.sign_()

    def gt(self, xs: list[Tensor], value: float) -> list[Tensor]:
        return [torch.gt(x, value) for x in xs]

    def where(self, conditions: list[Tensor], xs: list[Tensor], other: Operand) -> list[Tensor]:
        return [torch.where(c, x, o) for c, x, o in zip(conditions, xs, _as_list(other, len(xs)))]

    def abs(self, xs: list[Tensor]) -> list[Tensor]:
        return [torch.abs(x) for x in xs]

    def norm_dim(self, xs: list[Tensor], dim: int, keepdim: bool = True) -> list[Tensor]:
        return [torch.linalg.vector_norm(self._saved(x), dim=dim, keepdim=keepdim) for x in xs]

    def mean(self, xs: list[Tensor], dim: int, keepdim: bool = True) -> list[Tensor]:
        return [x.mean(dim=dim, keepdim=keepdim) for x in xs]

    def matmul(self, xs: list[Tensor], ys: list[Tensor]) -> list[Tensor]:
        return [torch.matmul(self._saved(x), self._saved(y)) for x, y in zip(xs, ys)]

    def addmm(self, xs: list[Tensor], m1s: list[Tensor], m2s: list[Tensor], *, beta: float = 1,
              alpha: float = 1) -> list[Tensor]:
        return [torch.addmm(x, a, b, beta=beta, alpha=alpha) for x, a, b in zip(xs, m1s, m2s)]

    def clamp_min_(self, xs: list[Tensor], bound: float) -> None:
        for x in xs:
            x.clamp_(min=bound)

    def rsqrt_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.rsqrt_()

    def clone(self, xs: list[Tensor]) -> list[Tensor]:
        return [x.clone() for x in xs]

    def lerp(self, xs: list[Tensor], ends: list[Tensor], weight: float) -> list[Tensor]:
        return [torch.lerp(x, e, weight) for x, e in zip(xs, ends)]

    def to_dtype(self, xs: list[Tensor], dtype: torch.dtype) -> list[Tensor]:
        return [x.to(dtype) for x in xs]

    def add_scaled_(self, xs: list[Tensor], others: list[Tensor], alphas: Sequence[float]) -> None:
        for x, o, a in zip(xs, others, alphas):
            x.add_(o, alpha=a)

    def sign(self, xs: list[Tensor]) -> list[Tensor]:
        return [torch.sign(x) for x in xs]

    def lt(self, xs: list[Tensor], value: float) -> list[Tensor]:
        return [torch.lt(x, value) for x in xs]

    def eq(self, xs: list[Tensor], value: float) -> list[Tensor]:
        return [torch.eq(x, value) for x in xs]

    def masked_fill_(self, xs: list[Tensor], masks: list[Tensor], value: float) -> None:
        for x, m in zip(xs, masks):
            x.masked_fill_(m, value)

    def clamp_(self, xs: list[Tensor], min: float | None = None, max: float | None = None) -> None:  # noqa: A002
        for x in xs:
            x.clamp_(min, max)

    def pow_(self, xs: list[Tensor], exponent: float) -> None:
        for x in xs:
            x.pow_(exponent)

    def fill_(self, xs: list[Tensor], values: Operand) -> None:
        for x, v in zip(xs, _as_list(values, len(xs))):
            x.fill_(v)

    def coalesce(self, xs: list[Tensor]) -> list[Tensor]:
        return [x.coalesce() for x in xs]

    def sparse_values(self, xs: list[Tensor]) -> list[Tensor]:
        return [x._values() for x in xs]

    def sparse_mask(self, xs: list[Tensor], masks: list[Tensor]) -> list[Tensor]:
        return [x.sparse_mask(m)._values() for x, m in zip(xs, masks)]

    def sparse_add_(self, xs: list[Tensor], masks: list[Tensor], values: list[Tensor]) -> None:
        for x, m, v in zip(xs, masks, values):
            # The indices come from a valid sparse tensor: no need to re-check them. (Passing
            # is_coalesced=True instead makes this about 1000x slower on the CPU.)
            x.add_(torch.sparse_coo_tensor(m._indices(), v, m.shape, check_invariants=False))

    def unsqueeze(self, xs: list[Tensor], dim: int) -> list[Tensor]:
        return [x.unsqueeze(dim) for x in xs]


def _is_number_list(operand: Operand) -> bool:
    return isinstance(operand, (list, tuple)) and len(operand) > 0 and not isinstance(operand[0], Tensor)


def _skip_empty(cls: type) -> type:
    """``torch._foreach_*`` rejects empty lists; an operation over no tensors does nothing."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def guarded(self: ListOps, xs: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(xs, (list, tuple)) and len(xs) == 0:
                return []
            return method(self, xs, *args, **kwargs)

        return guarded

    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_"):
            setattr(cls, name, wrap(member))
    return cls


@_skip_empty
class ForeachOps(LoopOps):
    """Each operation is one ``torch._foreach_*`` call over the whole bucket; operations torch
    has no foreach kernel for (views, sparse updates, fills) are inherited from :class:`LoopOps`."""

    def neg(self, xs: list[Tensor]) -> list[Tensor]:
        return list(torch._foreach_neg(xs))

    def add(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> list[Tensor]:
        if isinstance(other, (list, tuple)) and not _is_number_list(other):
            return list(torch._foreach_add(xs, other, alpha=alpha))
        return list(torch._foreach_add(xs, _scaled(other, alpha)))

    def add_(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> None:
        if isinstance(other, (list, tuple)) and not _is_number_list(other):
            torch._foreach_add_(xs, other, alpha=alpha)
        elif isinstance(other, Tensor) and other.is_cpu and not torch.compiler.is_compiling():
            # Adding a CPU scalar tensor takes the Tensor overload, which wraps the operand once
            # instead of once per element of the list (see the note on `step` in torch's Adam).
            torch._foreach_add_(xs, other, alpha=alpha)
        else:
            torch._foreach_add_(xs, _scaled(other, alpha))

    def sub_(self, xs: list[Tensor], other: Operand) -> None:
        torch._foreach_sub_(xs, other)

    def mul(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return list(torch._foreach_mul(xs, other))

    def mul_(self, xs: list[Tensor], other: Operand) -> None:
        torch._foreach_mul_(xs, other)

    def div(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return list(torch._foreach_div(xs, other))

    def div_(self, xs: list[Tensor], other: Operand) -> None:
        torch._foreach_div_(xs, other)

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor | Sequence[float]) -> None:
        torch._foreach_lerp_(xs, ends, weight)

    def addcmul_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        torch._foreach_addcmul_(xs, t1, t2, value)

    def addcdiv_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        torch._foreach_addcdiv_(xs, t1, t2, value)

    def sqrt(self, xs: list[Tensor]) -> list[Tensor]:
        return list(torch._foreach_sqrt(xs))

    def maximum_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        torch._foreach_maximum_(xs, ys)

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        torch._foreach_copy_(xs, ys)

    def pow_base(self, base: float | Tensor, exponents: list[Tensor]) -> list[Tensor]:
        return list(torch._foreach_pow(base, exponents))

    def reciprocal_(self, xs: list[Tensor]) -> None:
        torch._foreach_reciprocal_(xs)

    def sqrt_(self, xs: list[Tensor]) -> None:
        torch._foreach_sqrt_(xs)

    def neg_(self, xs: list[Tensor]) -> None:
        torch._foreach_neg_(xs)

    def norm(self, xs: list[Tensor]) -> list[Tensor]:
        return list(torch._foreach_norm(xs))

    def clamp_max(self, xs: list[Tensor], bound: float) -> list[Tensor]:
        return list(torch._foreach_clamp_max(xs, bound))

    def sign_(self, xs: list[Tensor]) -> None:
        torch._foreach_sign_(xs)

    def abs(self, xs: list[Tensor]) -> list[Tensor]:
        return list(torch._foreach_abs(xs))

    # No foreach kernels exist for reductions along a dim or for matrix products: one op per tensor.
    def norm_dim(self, xs: list[Tensor], dim: int, keepdim: bool = True) -> list[Tensor]:
        return [torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim) for x in xs]

    def matmul(self, xs: list[Tensor], ys: list[Tensor]) -> list[Tensor]:
        return [torch.matmul(x, y) for x, y in zip(xs, ys)]

    def clamp_min_(self, xs: list[Tensor], bound: float) -> None:
        torch._foreach_clamp_min_(xs, bound)

    def rsqrt_(self, xs: list[Tensor]) -> None:
        torch._foreach_rsqrt_(xs)

    def lerp(self, xs: list[Tensor], ends: list[Tensor], weight: float) -> list[Tensor]:
        return list(torch._foreach_lerp(xs, ends, weight))

    def add_scaled_(self, xs: list[Tensor], others: list[Tensor], alphas: Sequence[float]) -> None:
        torch._foreach_add_(xs, torch._foreach_mul(others, list(alphas)))

    def sign(self, xs: list[Tensor]) -> list[Tensor]:
        return list(torch._foreach_sign(xs))

    def clamp_(self, xs: list[Tensor], min: float | None = None, max: float | None = None) -> None:  # noqa: A002
        # clamp(x, lo, hi) is min(max(x, lo), hi): the same two steps, NaN propagating alike.
        if min is not None:
            torch._foreach_clamp_min_(xs, min)
        if max is not None:
            torch._foreach_clamp_max_(xs, max)

    def pow_(self, xs: list[Tensor], exponent: float) -> None:
        torch._foreach_pow_(xs, exponent)


def _scaled(operand: Operand, alpha: float) -> Operand:
    if alpha == 1:
        return operand
    if isinstance(operand, (list, tuple)):
        return [o * alpha for o in operand]
    return operand * alpha


def default_foreach(params: Sequence[Tensor], differentiable: bool) -> bool:
    """torch's default: foreach when every tensor is a plain tensor on a foreach-capable device
    (CUDA and the like, not CPU), and never when ``differentiable``."""
    if differentiable or torch.jit.is_scripting():
        return False
    devices = _get_foreach_kernels_supported_devices()
    return all(type(p) in _FOREACH_TYPES and p.device.type in devices for p in params)


def fused_supported_devices() -> list[str]:
    """Device types on which torch offers fused optimizer kernels."""
    return list(_get_fused_kernels_supported_devices())


def check_fused_device(p: Tensor) -> None:
    """torch's requirement for ``fused=True``: floating point parameters on a supported device."""
    devices = fused_supported_devices()
    if not (p.device.type in devices and torch.is_floating_point(p)):
        raise RuntimeError(
            "`fused=True` requires all the params to be floating point Tensors of "
            f"supported devices: {devices} but {p.dtype} and {p.device.type}"
        )


def bucket_by_device_and_dtype(params: Sequence[Tensor]) -> dict[tuple[torch.device, torch.dtype], list[int]]:
    """Indices of ``params`` grouped by (device, dtype), in first-seen order."""
    buckets: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for index, p in enumerate(params):
        buckets.setdefault((p.device, p.dtype), []).append(index)
    return buckets


def _real_views(items: list[Any], keep: Collection[int] = ()) -> list[Any]:
    """Complex tensors as real views, except at the positions in ``keep``."""
    return [
        torch.view_as_real(t) if isinstance(t, Tensor) and t.is_complex() and index not in keep else t
        for index, t in enumerate(items)
    ]


def _sparse_positions(*lists: list[Any]) -> set[int]:
    """Positions where any list holds a sparse tensor. ``view_as_real`` of a sparse complex
    tensor is a copy, not a view, so in-place updates of it (a sparse momentum buffer) would be
    lost: the tensors of such a parameter stay complex. Only element-wise rules that are valid in
    complex arithmetic take sparse gradients (SGD; SparseAdam rejects complex parameters)."""
    return {
        index
        for items in lists
        for index, t in enumerate(items)
        if isinstance(t, Tensor) and t.is_sparse
    }


def execute(
    rule: Callable[..., None],
    params: list[Tensor],
    grads: list[Tensor],
    per_param: dict[str, list[Any]],
    hyperparameters: dict[str, Any],
    *,
    foreach: bool,
    differentiable: bool = False,
) -> None:
    """Run ``rule`` over ``params`` with the chosen implementation of the list operations.

    Complex tensors are handed to the rule as real views (``torch.view_as_real``), as torch does:
    every supported rule is element-wise over the real and imaginary parts.

    Args:
        rule: the algorithm, ``rule(ops, params, grads, **per_param, **hyperparameters)``.
        params: parameters that have a gradient.
        grads: their gradients, in the same order.
        per_param: further lists aligned with ``params`` (state tensors, flags).
        hyperparameters: scalars shared by every parameter of the group.
        foreach: ``True`` runs the rule once per (device, dtype) bucket with ``torch._foreach_*``;
            ``False`` runs it once per parameter.
        differentiable: keep autograd-safe copies of tensors that later updates overwrite.
    """
    if not params:
        return
    if foreach:
        if differentiable:
            raise AssertionError("_foreach ops don't support autograd")
        ops: ListOps = ForeachOps()
        groups = list(bucket_by_device_and_dtype(params).values())
    else:
        ops = LoopOps(differentiable)
        groups = [[index] for index in range(len(params))]
    for indices in groups:
        bucket_grads = [grads[i] for i in indices]
        bucket_lists = {name: [values[i] for i in indices] for name, values in per_param.items()}
        keep = _sparse_positions(bucket_grads, *bucket_lists.values())
        bucket_params = _real_views([params[i] for i in indices], keep)
        bucket_grads = _real_views(bucket_grads, keep)
        bucket_lists = {name: _real_views(values, keep) for name, values in bucket_lists.items()}
        rule(ops, bucket_params, bucket_grads, **bucket_lists, **hyperparameters)


def execute_fused(
    kernel: Callable[..., None],
    params: list[Tensor],
    grads: list[Tensor],
    per_param: dict[str, list[Any]],
    *,
    grad_scale: Tensor | None,
    found_inf: Tensor | None,
) -> None:
    """Call one of torch's fused kernels once per (device, dtype) bucket.

    ``kernel(params, grads, **per_param_bucket, grad_scale=..., found_inf=...)`` receives the
    ``GradScaler`` tensors (if any) moved to the bucket's device once.
    """
    scale_on: dict[torch.device, Tensor] = {}
    inf_on: dict[torch.device, Tensor] = {}
    for (device, _), indices in bucket_by_device_and_dtype(params).items():
        device_scale = None if grad_scale is None else scale_on.setdefault(device, grad_scale.to(device))
        device_inf = None if found_inf is None else inf_on.setdefault(device, found_inf.to(device))
        kernel(
            [params[i] for i in indices],
            [grads[i] for i in indices],
            **{name: [values[i] for i in indices] for name, values in per_param.items()},
            grad_scale=device_scale,
            found_inf=device_inf,
        )


def differentiable_grad_mode(step: _F) -> _F:
    """Run ``step`` with autograd on exactly when the optimizer was built with
    ``differentiable=True`` (torch's contract: a normal step records no graph)."""

    @functools.wraps(step)
    def wrapper(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        previous = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(bool(self.defaults.get("differentiable", False)))
            return step(self, *args, **kwargs)
        finally:
            torch.set_grad_enabled(previous)

    return wrapper  # type: ignore[return-value]
