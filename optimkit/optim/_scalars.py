r"""Per-parameter scalars (bias corrections, step sizes) written once, held as numbers or tensors.

Many rules compute a few scalars per parameter from its ``step`` counter: Adam's bias corrections
:math:`1 - \beta^t`, NAdam's momentum schedule, RAdam's :math:`\rho_t`. torch computes them two
ways: as Python numbers read from the counter (the default, one host sync per parameter and no
kernel), or as 0-dim tensors on the counter's device (``capturable``, so a CUDA graph can replay
the step; ``differentiable``, so autograd sees them). :class:`Scalars` lets a rule write each
formula once and choose the representation by one flag:

* :meth:`Scalars.counters` reads the counters as numbers, or keeps them as tensors;
* every other method dispatches on its operands: where one of them is a list of tensors, it runs
  as list operations (``ops``, so as one ``torch._foreach_*`` call per operation on a bucket),
  otherwise as Python arithmetic. A Python number over a tensor is the tensor's reciprocal times
  the number, as torch evaluates ``lr / bias_correction``.

Operands are a list with one entry per parameter, or one value for all of them (a number, or a
0-dim tensor such as a Tensor ``lr``).

Example:
    >>> import torch
    >>> from optimkit.optim._executor import LoopOps
    >>> steps = [torch.tensor(1.0), torch.tensor(2.0)]
    >>> for on_device in (False, True):
    ...     s = Scalars(LoopOps(), on_device=on_device)
    ...     t = s.counters(steps)
    ...     print(s.div(-0.1, s.one_minus(s.power(0.5, t))))  # Adam's step size -lr / (1 - beta1^t)
    [-0.2, -0.13333333333333333]
    [tensor(-0.2000), tensor(-0.1333)]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._executor import ListOps, scalar_value

__all__ = ["Scalars"]


def _is_tensors(value: Any) -> bool:
    # On the hot path of every per-tensor step: exact type checks first, cheapest test first.
    return type(value) is list and len(value) > 0 and isinstance(value[0], Tensor)


def _numbers(values: list[Any]) -> list[Any]:
    """:func:`scalar_value` of each value, asking whether torch is compiling once for the list
    (the question costs as much as reading the number, on every per-tensor step). A list of
    numbers (the lists are never mixed) comes back as it is."""
    if not values or not isinstance(values[0], Tensor):
        return values
    if torch.compiler.is_compiling():
        # Tensors stay tensors (no specialisation on their values), in float64 as Python numbers.
        return [v.to(torch.float64) for v in values]
    return [v.item() for v in values]


# The per-tensor executor calls a rule once per tensor of a large model, and each call computes
# a dozen per-parameter scalars (NAdam: thirty): the arithmetic methods below check their operands
# inline and compute numbers with list comprehensions, without helper calls (a helper per check
# made NAdam's rule call 50 us, against torch's 28 us per parameter for the whole step).


class Scalars:
    """Arithmetic on per-parameter scalars, as Python numbers or as 0-dim tensors.

    Args:
        ops: the list operations of the rule, used where an operand is a list of tensors.
        on_device: keep the counters as 0-dim tensors (capturable or differentiable steps);
            otherwise they are read as Python numbers.
    """

    def __init__(self, ops: ListOps, *, on_device: bool) -> None:
        self.ops = ops
        self.on_device = on_device

    def counters(self, tensors: list[Tensor]) -> list[Any]:
        """The counters (``step``, ``mu_product``) as this strategy holds them.

        While compiling they are read as float64 0-dim tensors: the arithmetic on them is then the
        for-loop's (Python floats are doubles) rather than float32's, and, being 0-dim, they do not
        promote the element-wise operations they scale.
        """
        if not self.on_device:
            return _numbers(tensors)
        if torch.compiler.is_compiling():
            return [t.to(torch.float64) for t in tensors]
        return list(tensors)

    def power(self, base: Any, exponents: list[Any]) -> list[Any]:
        """``base ** e`` for each exponent."""
        if exponents and isinstance(exponents[0], Tensor):
            return self.ops.pow_base(base, exponents)
        return [base**e for e in exponents]

    def add(self, a: Any, b: Any) -> Any:
        if type(a) is list:
            if a and isinstance(a[0], Tensor):
                return self.ops.add(a, b)
            if type(b) is not list:
                return [x + b for x in a]
        elif type(b) is not list:
            return a + b
        if b and isinstance(b[0], Tensor):
            return self.ops.add(b, a)
        return [x + y for x, y in zip(a, b)] if type(a) is list else [a + y for y in b]

    def mul(self, a: Any, b: Any) -> Any:
        if type(a) is list:
            if a and isinstance(a[0], Tensor):
                return self.ops.mul(a, b)
            if type(b) is not list:
                return [x * b for x in a]
        elif type(b) is not list:
            return a * b
        if b and isinstance(b[0], Tensor):
            return self.ops.mul(b, a)
        return [x * y for x, y in zip(a, b)] if type(a) is list else [a * y for y in b]

    def div(self, a: Any, b: Any) -> Any:
        if type(a) is list:
            if a and isinstance(a[0], Tensor):
                return self.ops.div(a, b)
            if type(b) is not list:
                return [x / b for x in a]
        elif type(b) is not list:
            return a / b
        if b and isinstance(b[0], Tensor):
            if isinstance(a, Tensor):  # a Tensor hyperparameter (lr) over each tensor
                return self.ops.div([a] * len(b), b)
            # A number over a tensor: the tensor's reciprocal times the number, as torch does.
            return self.ops.mul(self.ops.reciprocal(b), a)
        return [x / y for x, y in zip(a, b)] if type(a) is list else [a / y for y in b]

    def neg(self, a: Any) -> Any:
        if type(a) is not list:
            return -a
        return self.ops.neg(a) if a and isinstance(a[0], Tensor) else [-x for x in a]

    def one_minus(self, a: Any) -> Any:
        """``1 - x`` (for tensors ``-x + 1``, which rounds exactly like ``1 - x``)."""
        if type(a) is not list:
            return 1 - a
        if not (a and isinstance(a[0], Tensor)):
            return [1 - x for x in a]
        out = self.ops.neg(a)
        self.ops.add_(out, 1.0)
        return out

    def sqrt(self, a: Any) -> Any:
        # x ** 0.5, not math.sqrt: the same rounding as torch.
        if type(a) is not list:
            return a**0.5
        return self.ops.sqrt(a) if a and isinstance(a[0], Tensor) else [x**0.5 for x in a]

    def pow(self, a: Any, exponent: float) -> Any:
        if type(a) is not list:
            return a**exponent
        return self.ops.pow(a, exponent) if a and isinstance(a[0], Tensor) else [x**exponent for x in a]

    def reciprocal(self, a: Any) -> Any:
        if type(a) is not list:
            return 1 / a
        return self.ops.reciprocal(a) if a and isinstance(a[0], Tensor) else [1 / x for x in a]

    def clamp_min(self, a: Any, bound: float) -> Any:
        if type(a) is not list:
            return max(a, bound)
        return self.ops.clamp_min(a, bound) if a and isinstance(a[0], Tensor) else [max(x, bound) for x in a]

    # ------------------------------------------------------- applying per-parameter scalars
    def addcdiv_(self, xs: list[Tensor], t1: list[Tensor], t2: list[Tensor], values: Any) -> None:
        """``x += value * t1 / t2``. Numbers go to the kernel as its ``value``; 0-dim tensors kept
        on the device (and a single Tensor value, as a Tensor ``lr``) scale ``t1`` first, as the
        kernel cannot take them. Neither ``t1`` nor ``t2`` changes."""
        if (self.on_device and _is_tensors(values)) or isinstance(values, Tensor):
            self.ops.addcdiv_(xs, self.ops.mul(t1, values), t2)
        elif isinstance(values, list):
            self.ops.addcdiv_(xs, t1, t2, _numbers(values))
        else:
            self.ops.addcdiv_(xs, t1, t2, scalar_value(values))

    def add_scaled_(self, xs: list[Tensor], ys: list[Tensor], values: Any) -> None:
        """``x += value * y`` with one value per tensor (kept on the device, or numbers)."""
        if self.on_device and _is_tensors(values):
            self.ops.addcmul_(xs, ys, values)
        else:
            self.ops.add_(xs, ys, alpha=_numbers(values))
