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
from collections.abc import Callable, Sequence
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

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor) -> None:
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

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor) -> None:
        for x, e in zip(xs, ends):
            x.lerp_(e, weight)

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
        for x, y in zip(xs, ys):
            x.copy_(torch.maximum(self._saved(x), y))

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        for x, y in zip(xs, ys):
            x.copy_(y)

    def pow_base(self, base: float | Tensor, exponents: list[Tensor]) -> list[Tensor]:
        # pow's backward reads its output, which rules go on to update in place.
        return [self._saved(torch.pow(base, e)) for e in exponents]

    def reciprocal_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.reciprocal_()

    def sqrt_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.sqrt_()

    def neg_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.neg_()


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
class ForeachOps(ListOps):
    """Each operation is one ``torch._foreach_*`` call over the whole bucket."""

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

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor) -> None:
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


def _real_views(items: list[Any]) -> list[Any]:
    return [torch.view_as_real(t) if isinstance(t, Tensor) and t.is_complex() else t for t in items]


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
            raise RuntimeError("_foreach ops don't support autograd")
        ops: ListOps = ForeachOps()
        groups = list(bucket_by_device_and_dtype(params).values())
    else:
        ops = LoopOps(differentiable)
        groups = [[index] for index in range(len(params))]
    for indices in groups:
        bucket_params = _real_views([params[i] for i in indices])
        bucket_grads = _real_views([grads[i] for i in indices])
        bucket_lists = {name: _real_views([values[i] for i in indices]) for name, values in per_param.items()}
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
