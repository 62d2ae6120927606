"""How an update rule runs: one tensor at a time, or with ``torch._foreach_*`` over buckets.

torch writes most algorithms three times (a for-loop, a ``foreach`` version and a fused kernel).
Here each algorithm is written once, as a *rule*: a function over lists of tensors whose
element-wise arithmetic goes through :class:`ListOps`, a small protocol of list operations
(``mul_``, ``add_``, ``addcmul_``, ``lerp_``, ``sqrt``, ``maximum_``, ...). What is not
element-wise (matrix products, reductions along a dimension, per-tensor ratios of norms) is plain
per-tensor code in the rule that needs it. The executor picks an implementation of the protocol:

* :class:`LoopOps` applies each operation tensor by tensor (torch's for-loop kernels); the
  executor calls the rule once per run of consecutive parameters of about a cache's size (see
  :func:`~._pieces.cache_sized_runs`). Each tensor still goes through exactly the operations, with the
  same operands, that torch's for-loop applies to it, only interleaved with the other tensors' of
  its run (element-wise operations on different tensors do not interact), so the numbers are
  torch's.
* :class:`ForeachOps` maps each operation to one ``torch._foreach_*`` call, from a table of
  kernels by name (an operation without a kernel runs tensor by tensor); the executor calls the
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
from typing import Any, Protocol, TypeVar, Union

import torch
from torch import Tensor
from torch.utils._foreach_utils import (
    _get_foreach_kernels_supported_devices,
    _get_fused_kernels_supported_devices,
)

from . import _pieces

__all__ = [
    "ListOps",
    "LoopOps",
    "ForeachOps",
    "TracedOps",
    "execute",
    "execute_fused",
    "default_foreach",
    "fused_by_default",
    "fused_supported_devices",
    "check_fused_device",
    "bucket_by_device_and_dtype",
    "scalar_value",
    "select",
    "squeezed",
]

# A second operand: a list of tensors, one number, a 0-dim tensor, or one number per tensor.
Operand = Union[Sequence[Tensor], Sequence[float], float, Tensor]
_F = TypeVar("_F", bound=Callable[..., Any])

# Only plain tensors and Parameters take the foreach path by default (tensor subclasses such as
# DTensor bring their own dispatch), as in torch's _default_to_fused_or_foreach.
_FOREACH_TYPES = _pieces.PLAIN_TENSOR_TYPES


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


def select(items: Sequence[Any], indices: Sequence[int]) -> list[Any]:
    """The entries of ``items`` at ``indices``: the part of a bucket one branch of a rule takes.

    Example:
        >>> select(["a", "b", "c"], [0, 2])
        ['a', 'c']
    """
    return [items[i] for i in indices]


def _as_list(operand: Operand, length: int) -> list[Any]:
    if isinstance(operand, (list, tuple)):
        return list(operand)
    return [operand] * length


class ListOps(Protocol):
    """The element-wise operations a rule may use, each over a list of tensors.

    Out-of-place operations return a new list; in-place ones end with ``_`` and return nothing.
    A second operand may be a list of tensors, one number, a 0-dim tensor, or one number per
    tensor. ``norm`` is the one reduction, one 0-dim tensor per tensor. What is not element-wise
    (matrix products, reductions along a dimension, norms combined into a ratio) is plain
    per-tensor code in the rule that needs it.
    """

    #: Whether autograd records the step (the per-tensor implementation then keeps copies of the
    #: tensors a later in-place update would change under autograd's feet).
    differentiable: bool

    def neg(self, xs: list[Tensor]) -> list[Tensor]: ...
    def abs(self, xs: list[Tensor]) -> list[Tensor]: ...
    def sign(self, xs: list[Tensor]) -> list[Tensor]: ...
    def sqrt(self, xs: list[Tensor]) -> list[Tensor]: ...
    def reciprocal(self, xs: list[Tensor]) -> list[Tensor]: ...
    def clone(self, xs: list[Tensor]) -> list[Tensor]: ...
    def norm(self, xs: list[Tensor]) -> list[Tensor]: ...
    def add(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> list[Tensor]: ...
    def mul(self, xs: list[Tensor], other: Operand) -> list[Tensor]: ...
    def div(self, xs: list[Tensor], other: Operand) -> list[Tensor]: ...
    def pow(self, xs: list[Tensor], exponent: float) -> list[Tensor]: ...
    def pow_base(self, base: float | Tensor, exponents: list[Tensor]) -> list[Tensor]: ...
    def clamp_min(self, xs: list[Tensor], bound: float) -> list[Tensor]: ...
    def add_(self, xs: list[Tensor], other: Operand, alpha: float | Sequence[float] = 1) -> None: ...
    def sub_(self, xs: list[Tensor], other: Operand) -> None: ...
    def mul_(self, xs: list[Tensor], other: Operand) -> None: ...
    def div_(self, xs: list[Tensor], other: Operand) -> None: ...
    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor | Sequence[float]) -> None: ...
    def addcmul_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None: ...
    def addcdiv_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None: ...
    def maximum_(self, xs: list[Tensor], ys: list[Tensor]) -> None: ...
    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None: ...
    def clamp_(self, xs: list[Tensor], min: float | None = None, max: float | None = None) -> None: ...  # noqa: A002
    def sqrt_(self, xs: list[Tensor]) -> None: ...
    def sign_(self, xs: list[Tensor]) -> None: ...
    def fill_(self, xs: list[Tensor], values: Operand) -> None: ...
    def increment_(self, counters: list[Tensor]) -> None: ...


class LoopOps:
    """:class:`ListOps` tensor by tensor: torch's "for-loop" implementation, the reference.

    With ``differentiable=True`` the tensor operands of in-place updates, and the results of
    operations whose backward reads their output, are cloned, so a later in-place update does not
    invalidate a tensor autograd saved.
    """

    def __init__(self, differentiable: bool = False) -> None:
        self.differentiable = differentiable
        # Not while compiling (cached tensors would be constants of the graph), nor under autograd
        # (torch's graph holds the number).
        self._cached_numbers = not differentiable and not torch.compiler.is_compiling()

    def _saved(self, t: Tensor) -> Tensor:
        return t.clone() if self.differentiable else t

    def _operand(self, value: Any, x: Tensor) -> Any:
        """``value`` as the second operand of a binary kernel on ``x``: a Python float as a cached
        0-dim tensor of ``x``'s dtype where that gives the kernel the same number (see
        :func:`_number_tensor`), anything else as it is."""
        if type(value) is float and self._cached_numbers:
            return _number_tensor(value, x)
        return value

    def neg(self, xs: list[Tensor]) -> list[Tensor]:
        return [torch.neg(x) for x in xs]

    def abs(self, xs: list[Tensor]) -> list[Tensor]:
        return [torch.abs(x) for x in xs]

    def sign(self, xs: list[Tensor]) -> list[Tensor]:
        return [torch.sign(x) for x in xs]

    def sqrt(self, xs: list[Tensor]) -> list[Tensor]:
        # sqrt's backward reads its output, which rules go on to update in place.
        return [self._saved(x.sqrt()) for x in xs]

    def reciprocal(self, xs: list[Tensor]) -> list[Tensor]:
        # reciprocal's backward reads its output, which rules may go on to update in place.
        return [self._saved(torch.reciprocal(x)) for x in xs]

    def clone(self, xs: list[Tensor]) -> list[Tensor]:
        return [x.clone() for x in xs]

    def norm(self, xs: list[Tensor]) -> list[Tensor]:
        # The norm's backward reads its input, which rules go on to update in place (params).
        return [torch.linalg.vector_norm(self._saved(x)) for x in xs]

    def add(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> list[Tensor]:
        return [x.add(self._operand(o, x), alpha=alpha) for x, o in zip(xs, _as_list(other, len(xs)))]

    def mul(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return [self._saved(x).mul(self._operand(o, x)) for x, o in zip(xs, _as_list(other, len(xs)))]

    def div(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return [self._saved(x).div(self._operand(o, x)) for x, o in zip(xs, _as_list(other, len(xs)))]

    def pow(self, xs: list[Tensor], exponent: float) -> list[Tensor]:
        return [self._saved(torch.pow(x, exponent)) for x in xs]

    def pow_base(self, base: float | Tensor, exponents: list[Tensor]) -> list[Tensor]:
        # pow's backward reads its output, which rules go on to update in place, and, for a
        # Tensor base that requires grad (betas), the exponent: the `step` counter, which the
        # next step advances in place.
        return [self._saved(torch.pow(base, self._saved(e))) for e in exponents]

    def clamp_min(self, xs: list[Tensor], bound: float) -> list[Tensor]:
        return [torch.clamp_min(x, bound) for x in xs]

    # The in-place operations below run for every parameter of every step: a shared operand (a
    # number, a 0-dim tensor) takes a loop without building a list of it.

    def add_(self, xs: list[Tensor], other: Operand, alpha: float | Sequence[float] = 1) -> None:
        if type(alpha) is list or type(alpha) is tuple:
            for x, o, a in zip(xs, _as_list(other, len(xs)), alpha):
                x.add_(self._operand(o, x), alpha=a)
        elif type(other) is list or type(other) is tuple:
            for x, o in zip(xs, other):
                x.add_(self._operand(o, x), alpha=alpha)
        else:
            for x in xs:
                x.add_(self._operand(other, x), alpha=alpha)

    def sub_(self, xs: list[Tensor], other: Operand) -> None:
        for x, o in zip(xs, _as_list(other, len(xs))):
            x.sub_(self._operand(o, x))

    def mul_(self, xs: list[Tensor], other: Operand) -> None:
        if type(other) is list or type(other) is tuple:
            for x, o in zip(xs, other):
                x.mul_(self._operand(o, x))
        else:
            for x in xs:
                x.mul_(self._operand(other, x))

    def div_(self, xs: list[Tensor], other: Operand) -> None:
        for x, o in zip(xs, _as_list(other, len(xs))):
            x.div_(self._operand(o, x))

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor | Sequence[float]) -> None:
        if type(weight) is list or type(weight) is tuple:
            for x, e, w in zip(xs, ends, weight):
                x.lerp_(e, w)
        else:
            for x, e in zip(xs, ends):
                x.lerp_(e, weight)

    def addcmul_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        self._ternary_(Tensor.addcmul_, xs, t1, t2, value)

    def addcdiv_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        self._ternary_(Tensor.addcdiv_, xs, t1, t2, value)

    def _ternary_(self, method: Callable[..., Tensor], xs: list[Tensor], t1: list[Tensor], t2: list[Tensor],
                  value: Operand) -> None:
        """``x.method(a, b, value=v)`` per tensor: addcmul_ and addcdiv_."""
        if self.differentiable or type(value) is list or type(value) is tuple:
            for x, a, b, v in zip(xs, t1, t2, _as_list(value, len(xs))):
                method(x, self._saved(a), self._saved(b), value=v)
        else:
            for x, a, b in zip(xs, t1, t2):
                method(x, a, b, value=value)

    def maximum_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        # maximum's backward reads both inputs; rules go on to update both in place (AMSGrad's
        # running maximum and exp_avg_sq, at the next step).
        if not self.differentiable:  # in place: no temporary, one pass
            for x, y in zip(xs, ys):
                torch.maximum(x, y, out=x)
            return
        for x, y in zip(xs, ys):
            x.copy_(torch.maximum(self._saved(x), self._saved(y)))

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        for x, y in zip(xs, ys):
            x.copy_(y)

    def clamp_(self, xs: list[Tensor], min: float | None = None, max: float | None = None) -> None:  # noqa: A002
        for x in xs:
            x.clamp_(min, max)

    def sqrt_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.sqrt_()

    def sign_(self, xs: list[Tensor]) -> None:
        for x in xs:
            x.sign_()

    def fill_(self, xs: list[Tensor], values: Operand) -> None:
        for x, v in zip(xs, _as_list(values, len(xs))):
            x.fill_(v)

    def increment_(self, counters: list[Tensor]) -> None:
        """Advance each counter (``step``) by one.

        A floating-point counter takes the one as a cached operand (:meth:`_operand`: 2.4 us
        against 0.9 us per counter, on every parameter of every step), an integer one the
        number 1; the sum is the same exact integer.
        """
        for x in counters:
            x.add_(self._operand(1.0, x) if x.is_floating_point() else 1)


# Python numbers as operands of the binary kernels (mul_, add_, div_, ...): the argument parser
# wraps each one into a new 0-dim tensor on every call, 1.5 us of the 2.5 us a mul_ of a small
# tensor takes, for every parameter of every step. A 0-dim CPU tensor is the same kind of operand
# to the kernel (a CPU scalar, read once); made in the float32 or float64 dtype of the tensor it
# meets, it holds the very value the kernel would have cast the number to. Half-precision tensors
# keep the number (their kernels read it in float32, not rounded to the tensor's dtype), and
# so do zeros (0.0 == -0.0 as a key) and NaN. Bitwise equality with the numbers:
# tests/optim/test_executors.py. The cache is small: values scheduled per step come and go.
_NUMBER_DTYPES = (torch.float32, torch.float64)
_NUMBER_CACHE_SIZE = 256
_number_tensors: dict[tuple[float, torch.dtype], Tensor] = {}


def _number_tensor(value: float, x: Tensor) -> Any:
    """``value`` as a cached 0-dim tensor of ``x``'s dtype, where that is the same operand."""
    dtype = x.dtype
    if value == 0 or value != value or dtype not in _NUMBER_DTYPES or not x.is_cpu or type(x) not in _FOREACH_TYPES:
        return value  # (a tensor subclass, such as DTensor, dispatches operands its own way)
    key = (value, dtype)
    cached = _number_tensors.get(key)
    if cached is None:
        if len(_number_tensors) >= _NUMBER_CACHE_SIZE:
            _number_tensors.clear()
        try:
            cached = torch.scalar_tensor(value, dtype=dtype, device="cpu")
        except RuntimeError:  # beyond the dtype's range: the kernel rounds the number to inf itself
            return value
        _number_tensors[key] = cached
    return cached


def _narrowed(operand: Any, xs: list[Tensor]) -> Any:
    """``operand`` with its 0-dim tensors cast to the dtype of the tensors they meet in ``xs``."""
    if isinstance(operand, Tensor):
        x = xs[0] if xs else None
        if x is not None and operand.dim() == 0 and operand.dtype != x.dtype and x.is_floating_point():
            return operand.to(x.dtype)
        return operand
    if isinstance(operand, (list, tuple)) and operand and isinstance(operand[0], Tensor):
        return [_narrowed(o, [x]) for o, x in zip(operand, xs)]
    return operand


class TracedOps(LoopOps):
    """:class:`LoopOps` for a rule compiled with ``torch.compile``.

    There the per-parameter scalars (``step``, bias corrections, step sizes) stay 0-dim tensors,
    computed in float64 as the for-loop computes them in Python floats. Where one meets the
    tensors it scales it is first cast to their dtype, which is what the for-loop's kernels do with
    a Python number; the compiled loop would otherwise compute a float32 update in float64
    (twice the vector width, half the speed, and not the for-loop's rounding).
    """

    def __init__(self) -> None:
        super().__init__()
        self._cached_numbers = False  # the rule is traced: numbers stay numbers

    def add(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> list[Tensor]:
        return super().add(xs, _narrowed(other, xs), alpha)

    def mul(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return super().mul(xs, _narrowed(other, xs))

    def div(self, xs: list[Tensor], other: Operand) -> list[Tensor]:
        return super().div(xs, _narrowed(other, xs))

    def add_(self, xs: list[Tensor], other: Operand, alpha: float | Sequence[float] = 1) -> None:
        super().add_(xs, _narrowed(other, xs), _narrowed(alpha, xs))

    def sub_(self, xs: list[Tensor], other: Operand) -> None:
        super().sub_(xs, _narrowed(other, xs))

    def mul_(self, xs: list[Tensor], other: Operand) -> None:
        super().mul_(xs, _narrowed(other, xs))

    def div_(self, xs: list[Tensor], other: Operand) -> None:
        super().div_(xs, _narrowed(other, xs))

    def lerp_(self, xs: list[Tensor], ends: list[Tensor], weight: float | Tensor | Sequence[float]) -> None:
        super().lerp_(xs, ends, _narrowed(weight, xs))

    def addcmul_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        super().addcmul_(xs, _narrowed(t1, xs), _narrowed(t2, xs), _narrowed(value, xs))

    def addcdiv_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], value: Operand = 1) -> None:
        super().addcdiv_(xs, _narrowed(t1, xs), _narrowed(t2, xs), _narrowed(value, xs))


def _is_tensor_list(operand: Operand) -> bool:
    return isinstance(operand, (list, tuple)) and len(operand) > 0 and isinstance(operand[0], Tensor)


def _scaled(operand: Operand, alpha: float) -> Operand:
    if alpha == 1:
        return operand
    if isinstance(operand, (list, tuple)):
        return [o * alpha for o in operand]
    return operand * alpha


# The operations that map one to one onto a torch foreach kernel, with the names of their
# arguments after the list (keyword arguments are passed on by position: the kernels' names for
# them differ between the Scalar and the ScalarList overloads).
_FOREACH_KERNELS: dict[str, tuple[str, ...]] = {
    "neg": (), "abs": (), "sign": (), "sqrt": (), "reciprocal": (), "clone": (), "norm": (),
    "mul": ("other",), "div": ("other",), "pow": ("exponent",), "clamp_min": ("bound",),
    "sub_": ("other",), "mul_": ("other",), "div_": ("other",), "lerp_": ("ends", "weight"),
    "addcmul_": ("t1", "t2", "value"), "addcdiv_": ("t1", "t2", "value"),
    "maximum_": ("ys",), "sqrt_": (), "sign_": (),
}


def _foreach_method(name: str, arguments: tuple[str, ...]) -> Callable[..., Any]:
    """The :class:`ForeachOps` method ``name``: one ``torch._foreach_<name>`` call per bucket."""
    kernel = getattr(torch, f"_foreach_{name}")
    in_place = name.endswith("_")

    def method(self: ForeachOps, xs: list[Tensor], *args: Any, **kwargs: Any) -> Any:
        if not xs:  # the kernels reject empty lists; an operation over no tensors does nothing
            return None if in_place else []
        if kwargs:
            args += tuple(kwargs[key] for key in arguments[len(args):] if key in kwargs)
        result = kernel(xs, *args)
        return None if in_place else list(result)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``torch._foreach_{name}`` over the whole list."
    return method


class ForeachOps(LoopOps):
    """:class:`ListOps` as ``torch._foreach_*`` calls over a bucket (one device, one dtype).

    Most operations come from the table of kernels above; the few whose arguments need adapting
    are written out below; an operation torch has no foreach kernel for (``fill_``) is inherited
    from :class:`LoopOps` and runs tensor by tensor.
    """

    def __init__(self) -> None:
        super().__init__(differentiable=False)

    def add(self, xs: list[Tensor], other: Operand, alpha: float = 1) -> list[Tensor]:
        if not xs:
            return []
        if _is_tensor_list(other):
            return list(torch._foreach_add(xs, other, alpha=alpha))
        return list(torch._foreach_add(xs, _scaled(other, alpha)))

    def add_(self, xs: list[Tensor], other: Operand, alpha: float | Sequence[float] = 1) -> None:
        if not xs:
            return
        if isinstance(alpha, (list, tuple)):
            # One alpha per tensor: no kernel takes that, so scale the operands first.
            torch._foreach_add_(xs, torch._foreach_mul(other, list(alpha)))  # type: ignore[arg-type]
        elif _is_tensor_list(other):
            torch._foreach_add_(xs, other, alpha=alpha)
        elif isinstance(other, Tensor) and other.is_cpu and not torch.compiler.is_compiling():
            # Adding a CPU scalar tensor takes the Tensor overload, which wraps the operand once
            # instead of once per element of the list (see the note on `step` in torch's Adam).
            torch._foreach_add_(xs, other, alpha=alpha)
        else:
            torch._foreach_add_(xs, _scaled(other, alpha))

    def pow_base(self, base: float | Tensor, exponents: list[Tensor]) -> list[Tensor]:
        return list(torch._foreach_pow(base, exponents)) if exponents else []

    def increment_(self, counters: list[Tensor]) -> None:
        if counters:
            torch._foreach_add_(counters, 1)

    def copy_(self, xs: list[Tensor], ys: list[Tensor]) -> None:
        if all(type(x) in _FOREACH_TYPES for x in xs):
            if xs:
                torch._foreach_copy_(xs, ys)
            return
        # DTensor (FSDP2's sharded parameters) has no sharding rule for _foreach_copy_ in torch
        # 2.13, where it has one for the other foreach kernels used here: copy one by one.
        LoopOps.copy_(self, xs, ys)

    def clamp_(self, xs: list[Tensor], min: float | None = None, max: float | None = None) -> None:  # noqa: A002
        # clamp(x, lo, hi) is min(max(x, lo), hi): the same two steps, NaN propagating alike.
        if xs and min is not None:
            torch._foreach_clamp_min_(xs, min)
        if xs and max is not None:
            torch._foreach_clamp_max_(xs, max)


for _name, _arguments in _FOREACH_KERNELS.items():
    setattr(ForeachOps, _name, _foreach_method(_name, _arguments))
del _name, _arguments


def default_foreach(params: Sequence[Tensor], differentiable: bool) -> bool:
    """torch's default: foreach when every tensor is a plain tensor on a foreach-capable device
    (CUDA and the like, not CPU), and never when ``differentiable``."""
    if differentiable or torch.jit.is_scripting():
        return False
    devices = _get_foreach_kernels_supported_devices()
    return all(type(p) in _FOREACH_TYPES and p.device.type in devices for p in params)


# Dtypes whose fused CPU kernels compute in the parameter's own precision, so that they give the
# for-loop's numbers up to rounding (half and bfloat16 kernels compute in float32 and round once,
# which differs from the for-loop by more than that).
_FUSED_DEFAULT_DTYPES = (torch.float32, torch.float64)


def fused_by_default(params: Sequence[Tensor], grads: Sequence[Tensor], *, lr: Any = None) -> bool:
    """Whether a step that names neither ``foreach`` nor ``fused`` runs torch's fused kernel.

    On the CPU torch's default is its for-loop, which makes one pass over memory per operation
    (Adam: about ten); the fused CPU kernel computes the same update in one pass, tensor by
    tensor, and its numbers differ only by rounding. It is the default here for plain dense
    float32/float64 CPU tensors outside ``torch.compile`` (the caller has already excluded
    ``differentiable`` and ``capturable``); anywhere else the default stays torch's (foreach on
    CUDA, the for-loop otherwise).
    """
    if torch.compiler.is_compiling() or torch.jit.is_scripting():
        return False
    if isinstance(lr, Tensor) and (lr.requires_grad or not lr.is_cpu):
        return False
    return all(
        type(p) in _FOREACH_TYPES and p.device.type == "cpu" and p.dtype in _FUSED_DEFAULT_DTYPES
        and g.layout == torch.strided and g.dtype == p.dtype
        for p, g in zip(params, grads)
    )


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
    compiled: bool = False,
    elementwise: bool = False,
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
        compiled: run the rule compiled with ``torch.compile`` (see :func:`_compiled_rule`),
            once over all of ``params``.
        elementwise: the rule treats every element on its own (besides per-parameter counters),
            so the per-tensor executor may step large tensors in cache-sized pieces (see
            :func:`~._pieces.cache_sized_pieces`).
    """
    if not params:
        return
    call: Callable[..., None] = rule
    if compiled:
        ops: ListOps = TracedOps()
        groups = [list(range(len(params)))]
        call = _compiled_rule(rule)
        hyperparameters = _traceable_hyperparameters(rule, hyperparameters)
    elif foreach:
        if differentiable:
            raise AssertionError("_foreach ops don't support autograd")
        ops: ListOps = ForeachOps()
        groups = list(bucket_by_device_and_dtype(params).values())
    else:
        ops = LoopOps(differentiable)
        if elementwise and not differentiable and not torch.compiler.is_compiling():
            params, grads, per_param = _pieces.cache_sized_pieces(params, grads, per_param)
        groups = _pieces.cache_sized_runs(params)
    # Real parameters (the usual case) have real gradients and state: no views to make, which
    # keeps the per-parameter loop free of work it does not need.
    any_complex = any(p.is_complex() for p in params)
    names = list(per_param)
    lists = [per_param[name] for name in names]
    for indices in groups:
        bucket_params = [params[i] for i in indices]
        bucket_grads = [grads[i] for i in indices]
        bucket_lists = {name: [values[i] for i in indices] for name, values in zip(names, lists)}
        if any_complex:
            keep = _sparse_positions(bucket_grads, *bucket_lists.values())
            bucket_params = _real_views(bucket_params, keep)
            bucket_grads = _real_views(bucket_grads, keep)
            bucket_lists = {name: _real_views(values, keep) for name, values in bucket_lists.items()}
        call(ops, bucket_params, bucket_grads, **bucket_lists, **hyperparameters)

@functools.cache
def _compiled_rule(rule: Callable[..., None]) -> Callable[..., None]:
    """``rule`` compiled with ``torch.compile``: inductor fuses its element-wise operations into one
    generated loop (one kernel on a GPU) per tensor, which reads and writes each operand once.

    One compiled function per rule, so every optimizer of a class shares its compilations.
    Shapes and Python numbers are static (``dynamic=False``): the executor hands the rule one list
    per step whose shapes do not change, and with dynamic floats torch 2.13 computed a wrong NAdam
    step for ``momentum_decay=0.0`` after compiling for other values.
    """
    # realize_opcount_threshold: inductor inlines an expression into each loop that reads it until
    # it counts this many operations; the per-parameter scalars (bias corrections: pow, div) would
    # otherwise be recomputed for every vector of every element (NAdam on 6M elements: 10 ms,
    # computed once: 2.9 ms; RAdam 7.7 -> 3.1 ms).
    compiled = torch.compile(rule, dynamic=False, options={"realize_opcount_threshold": 8})

    @functools.wraps(rule)
    def run(*args: Any, **kwargs: Any) -> None:
        # dynamo keeps 8 compilations per function by default, then runs it eagerly: every
        # optimizer of the class shares this one, and each configuration and set of shapes is a
        # compilation of its own.
        with torch._dynamo.config.patch(recompile_limit=_RECOMPILE_LIMIT):
            compiled(*args, **kwargs)

    return run


_RECOMPILE_LIMIT = 256


def _traceable_hyperparameters(rule: Callable[..., None], hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The rule's keyword arguments as a compiled step takes them: a float learning rate as a
    0-dim tensor (compiled code specialises on Python numbers, and a scheduler changes the
    learning rate every step: each new value would compile again), and the rule's tensor
    arithmetic for its scalars (``capturable``) rather than Python numbers read from ``step``."""
    traced = dict(hyperparameters)
    lr = traced.get("lr")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        traced["lr"] = torch.tensor(float(lr), dtype=torch.float64)
    if "capturable" in traced:
        traced["capturable"] = True
    return traced


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
    buckets = bucket_by_device_and_dtype(params)
    scale_on: dict[torch.device, Tensor] = {}
    inf_on: dict[torch.device, Tensor] = {}
    for (device, _), indices in buckets.items():
        device_scale = None if grad_scale is None else scale_on.setdefault(device, grad_scale.to(device))
        device_inf = None if found_inf is None else inf_on.setdefault(device, found_inf.to(device))
        if len(buckets) == 1:
            # Everything in one bucket (a flat run stepped as one tensor, a model on one device):
            # the lists as given, not copied element by element.
            kernel(params, grads, **per_param, grad_scale=device_scale, found_inf=device_inf)
            continue
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
            torch.set_grad_enabled(self.defaults.get("differentiable", False))  # a non-bool: TypeError, as torch
            return step(self, *args, **kwargs)
        finally:
            torch.set_grad_enabled(previous)

    return wrapper  # type: ignore[return-value]
