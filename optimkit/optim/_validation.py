"""Declarative argument checks shared by every optimizer.

Each optimizer lists the rules that apply to its constructor arguments; :func:`validate` runs them
in order and raises ``ValueError`` with torch's wording, so code that matches on torch's messages
keeps working (``Invalid learning rate: -1.0``).

Classes that reproduce a ``torch.optim`` class check exactly what torch checks, no more: torch
accepts ``weight_decay=True`` or ``maximize=None`` and so do they, and a one-element ``betas``
raises torch's ``IndexError``. The classes without a torch counterpart (optimkit's own, and the
Cerebras ones) also have the types of their arguments checked against their annotations before
the rules run (:func:`argument_problems`): a bool is no number, a ``betas`` needs two entries, and
the error names the argument.

Example:
    >>> from optimkit.optim._validation import validate, non_negative
    >>> validate([non_negative("lr", "Invalid learning rate: {}")], {"lr": 0.1})
    >>> validate([non_negative("lr", "Invalid learning rate: {}")], {"lr": -1.0})
    Traceback (most recent call last):
    ...
    ValueError: Invalid learning rate: -1.0
    >>> import torch
    >>> from optimkit.cerebras.optim import AdamW
    >>> AdamW([torch.nn.Parameter(torch.ones(1))], betas=(0.9,))
    Traceback (most recent call last):
    ...
    ValueError: AdamW: betas must have 2 entries, got (0.9,)
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import math
import numbers
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from ._lean import check_lean_options  # (re-exported: the constructors check through this module)

__all__ = [
    "Rule",
    "validate",
    "non_negative",
    "not_below_zero",
    "in_unit_interval",
    "beta_at",
    "tensor_hyperparameter",
    "check_fused_flags",
    "capturable_devices",
    "check_capturable_devices",
    "TENSOR_LR",
    "LR",
    "EPS",
    "WEIGHT_DECAY",
    "BETAS",
    "Problem",
    "argument_problems",
    "checks_types",
]


@dataclass(frozen=True)
class Rule:
    """One check: ``predicate(value)`` must hold, else ``message.format(value)`` is raised.

    ``arg`` names the constructor argument; ``index`` picks one element of a tuple argument
    (``betas[0]``). A rule whose argument is absent from the values is skipped.
    """

    arg: str
    predicate: Callable[[Any], bool]
    message: str
    index: int | None = None
    error: type[Exception] = ValueError

    def check(self, values: Mapping[str, Any]) -> None:
        if self.arg not in values:
            return
        value = values[self.arg]
        if self.index is not None:
            value = value[self.index]
        if not self.predicate(value):
            raise self.error(self.message.format(value))


def non_negative(arg: str, message: str) -> Rule:
    """``0 <= value`` (works for floats and 1-element tensors)."""
    return Rule(arg, lambda value: 0.0 <= value, message)


def not_below_zero(arg: str, message: str) -> Rule:
    """``not value < 0`` (torch's SGD compares this way round: NaN passes, and a value that is no
    number fails with ``'<' not supported between instances of 'str' and 'float'``).

    Example:
        >>> validate([not_below_zero("lr", "Invalid learning rate: {}")], {"lr": float("nan")})
        >>> validate([not_below_zero("lr", "Invalid learning rate: {}")], {"lr": "x"})
        Traceback (most recent call last):
        ...
        TypeError: '<' not supported between instances of 'str' and 'float'
    """
    return Rule(arg, lambda value: not value < 0.0, message)


def in_unit_interval(arg: str, message: str, index: int | None = None) -> Rule:
    """``0 <= value < 1``."""
    return Rule(arg, lambda value: 0.0 <= value < 1.0, message, index=index)


def beta_at(index: int) -> Rule:
    """torch's check on ``betas[index]``: ``0 <= beta < 1``."""
    return in_unit_interval("betas", f"Invalid beta parameter at index {index}: {{}}", index=index)


def validate(rules: Iterable[Rule], values: Mapping[str, Any]) -> None:
    """Run ``rules`` over ``values`` in order; the first failing rule raises.

    ``values`` is the ``locals()`` of a constructor. When it holds ``self`` of a class without a
    torch counterpart (:func:`checks_types`), the argument types are checked first, against the
    annotations of the constructor that is running (``__class__``): ``TypeError`` for a wrong type,
    ``ValueError`` for a tuple of the wrong length, each naming the class and the argument.
    """
    owner = values.get("self")
    if owner is not None and checks_types(type(owner)):
        declaring = values.get("__class__", type(owner))
        problems = argument_problems(declaring, {k: v for k, v in values.items() if k not in _NOT_ARGUMENTS})
        if problems:
            problem = problems[0]
            raise problem.error(f"{type(owner).__name__}: {problem.message}")
    for rule in rules:
        rule.check(values)


_NOT_ARGUMENTS = frozenset({"self", "__class__", "params", "defaults"})


@functools.lru_cache(maxsize=None)
def checks_types(cls: type) -> bool:
    """Whether the constructor of ``cls`` checks its argument types (:func:`validate`): for the
    classes the registry knows without a ``torch.optim`` counterpart (optimkit's own optimizers
    and the Cerebras ones); a torch-named class, or one the registry does not know, checks what
    torch checks.

    Example:
        >>> from optimkit.optim import Adam, Lamb
        >>> from optimkit.cerebras.optim import Adam as CerebrasAdam
        >>> checks_types(Adam), checks_types(Lamb), checks_types(CerebrasAdam)
        (False, True, True)
    """
    from optimkit.registry import OPTIMIZERS

    spec = OPTIMIZERS.spec_for(cls)
    return spec is not None and spec.torch_name is None


class Problem(NamedTuple):
    """What is wrong with one argument: its name, the message (naming it) and the error type."""

    name: str
    message: str
    error: type[Exception]


def _describe_value(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_UNIONS: tuple[Any, ...] = (typing.Union, types.UnionType)
_SEQUENCES = (list, tuple, cabc.Sequence, cabc.MutableSequence, cabc.Iterable, cabc.Collection)


def _expected(annotation: Any) -> str | None:
    """How a message says what ``annotation`` asks for; ``None`` when nothing is checked."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in _UNIONS:
        arms = [_expected(a) for a in args if a is not type(None)]
        if any(arm is None for arm in arms):
            return None
        words = list(dict.fromkeys(a for a in arms if a))
        if type(None) in args:
            words.append("None")
        return " or ".join(words)
    if annotation is bool:
        return "a bool"
    if annotation is int:
        return "an integer"
    if annotation in (float, numbers.Real, numbers.Number):
        return "a number"
    if annotation is str:
        return "a string"
    if annotation is torch.Tensor:
        return "a tensor"
    if annotation is type(None):
        return "None"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            inner = _expected(args[0])
            return None if inner is None else f"a tuple of {inner.removeprefix('a ').removeprefix('an ')}s"
        inner_words = [_expected(a) for a in args]
        if any(word is None for word in inner_words):
            return None
        return f"a tuple of {len(args)}"
    if origin in _SEQUENCES and args:
        inner = _expected(args[0])
        return None if inner is None else f"a list of {inner.removeprefix('a ').removeprefix('an ')}s"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if annotation is cabc.Callable or origin is cabc.Callable:
        return "a callable"
    return None


def _fits(value: Any, annotation: Any) -> bool | int:
    """Whether ``value`` is what ``annotation`` asks for. A tuple of the wrong length answers
    with the length wanted (a positive int, which is truthy only for reporting)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in _UNIONS:
        results = [_fits(value, arm) for arm in args]
        if any(r is True for r in results):
            return True
        lengths = [r for r in results if isinstance(r, int) and not isinstance(r, bool)]
        return lengths[0] if lengths else False
    if _expected(annotation) is None:
        return True
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        # An integral float (1.0) is taken for an integer, as the constructors always took it.
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if annotation in (float, numbers.Real, numbers.Number):
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and not _big_int(value)
    if annotation is str:
        return isinstance(value, str)
    if annotation is torch.Tensor:
        return isinstance(value, torch.Tensor)
    if annotation is type(None):
        return value is None
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) is True for v in value)
        if len(value) != len(args):
            return len(args)
        return all(_fits(v, a) is True for v, a in zip(value, args))
    if origin in _SEQUENCES and args:
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) is True for v in value)
    if origin is typing.Literal:
        return any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in args)
    if annotation is cabc.Callable or origin is cabc.Callable:
        return callable(value)
    return True


def argument_problems(target: Callable[..., Any], values: Mapping[str, Any], *,
                      finite: bool = False) -> list[Problem]:
    """The arguments among ``values`` that are not of the type ``target``'s signature annotates.

    Checked: numbers (a bool is none), integers (an integral float is one), bools, strings,
    tensors, ``None`` where the annotation allows it, tuples (with their length: a
    ``ValueError``), lists, ``Literal`` choices and unions of these; anything else is left to the constructor. With ``finite``, a
    number must also be finite (configs). ``target`` is a class (its constructor) or a function.

    Example:
        >>> from optimkit.optim import Lamb
        >>> [p.message for p in argument_problems(Lamb, {"lr": True, "betas": [0.9], "eps": 1e-6})]
        ['lr must be a number, got bool True', 'betas must have 2 entries, got [0.9]']
        >>> argument_problems(Lamb, {"lr": float("nan")}, finite=True)[0].message
        'lr must be a finite number, got nan'
    """
    from optimkit._binder import _arguments

    annotations = {a.name: a.annotation for a in _arguments(target)}
    problems = []
    for name, value in values.items():
        annotation = annotations.get(name)
        if annotation is None:
            continue
        expected = _expected(annotation)
        if expected is None:
            continue
        fits = _fits(value, annotation)
        if fits is True:
            if finite and _non_finite(value):
                problems.append(Problem(name, f"{name} must be a finite number, got {_describe_value(value)}",
                                        ValueError))
            continue
        if not isinstance(fits, bool) and isinstance(value, (tuple, list)):
            problems.append(Problem(name, f"{name} must have {fits} entries, got {_describe_value(value)}",
                                    ValueError))
            continue
        if _big_int(value):
            problems.append(Problem(name, f"{name} must be a number torch's kernels can take, got an integer beyond "
                                          f"64 bits ({value}); write it as a float", ValueError))
            continue
        kind = "bool " if isinstance(value, bool) else ""
        problems.append(Problem(name, f"{name} must be {expected}, got {kind}{_describe_value(value)}", TypeError))
    return problems


def _big_int(value: Any) -> bool:
    """An int that no 64-bit scalar holds (torch's kernels raise OverflowError for it)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and not -(2**63) <= value < 2**63


def _non_finite(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return not math.isfinite(value)
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and not bool(torch.isfinite(value).all())
    if isinstance(value, (tuple, list)):
        return any(_non_finite(v) for v in value)
    return False


def tensor_hyperparameter(name: str, value: Any, *, foreach: bool | None, capturable: bool) -> None:
    """torch's rules for a hyperparameter given as a Tensor (lr, betas[i]).

    A Tensor must hold exactly one element, and the non-capturable ``foreach`` kernels cannot
    take one (torch raises the same ``ValueError``).
    """
    if not isinstance(value, torch.Tensor):
        return
    if foreach and not capturable:
        raise ValueError(f"{name} as a Tensor is not supported for capturable=False and foreach=True")
    if value.numel() != 1:
        raise ValueError(f"Tensor {name} must be 1-element")


def check_fused_flags(*, fused: bool | None, foreach: bool | None, differentiable: bool) -> None:
    """torch's mutual exclusions for ``fused=True`` (``RuntimeError``, as torch raises)."""
    if not fused:
        return
    if differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")



def capturable_devices(*, supports_xla: bool = True) -> list[str]:
    """Device types on which torch lets ``capturable=True`` run, in the order its error lists them.

    Some of torch's implementations leave XLA out (Adadelta, the foreach Adamax), so their
    message does too.
    """
    devices = ["cuda", "xpu", "hpu", torch._C._get_privateuse1_backend_name()]
    if supports_xla:
        devices.append("xla")
    return devices


def check_capturable_devices(params: Iterable[torch.Tensor], steps: Iterable[torch.Tensor], *,
                             supports_xla: bool = True) -> None:
    """torch's check before a capturable step: each parameter and its ``step`` on the same
    supported device type (``AssertionError``, as torch raises). Skipped while compiling."""
    if torch.compiler.is_compiling():
        return
    devices = capturable_devices(supports_xla=supports_xla)
    if not all(p.device.type == s.device.type and p.device.type in devices for p, s in zip(params, steps)):
        raise AssertionError(
            f"If capturable=True, params and state_steps must be on supported devices: {devices}."
        )

# Rules most optimizers share, with torch's messages.
TENSOR_LR = Rule("lr", lambda lr: not isinstance(lr, torch.Tensor) or lr.numel() == 1, "Tensor lr must be 1-element")
LR = non_negative("lr", "Invalid learning rate: {}")
EPS = non_negative("eps", "Invalid epsilon value: {}")
WEIGHT_DECAY = non_negative("weight_decay", "Invalid weight_decay value: {}")
BETAS = (beta_at(0), beta_at(1))
