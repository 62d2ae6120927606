"""What an algorithm declares once, and everything that is read from it.

An optimizer class states its facts in three places, each of them once:

* **the constructor's signature**: its parameters besides ``params`` are the options of a parameter
  group, in order, with their defaults (``defaults``); its flags (options annotated ``bool`` or
  ``bool | None``) are what a checkpoint from an older release may lack; and
  which of ``betas``, ``momentum``, ``foreach``, ``fused``, ``differentiable`` it takes are the
  registry's capability flags;
* **the rule's signature** (see :mod:`._executor`): its per-parameter list parameters after
  ``grads`` name the state entries it takes, in order, and its keyword-only parameters name the
  group options it reads. Tuple options reach the rule element by element under the names of
  :data:`SPLIT_OPTIONS` (``betas`` -> ``beta1``, ``beta2``); a keyword parameter with a default
  may be absent from a group (an old checkpoint);
* **``_init_state(group, p)``**: the state of one parameter; where its names or kinds are needed
  without a parameter at hand, it is probed on the meta device.

The few places where torch's observable behaviour does not follow from these (the order of a
class's ``defaults`` dict, the options its ``__setstate__`` fills) are class attributes of their
own, documented on :class:`~optimkit.optim.Optimizer`.

Example:
    >>> from optimkit.optim import Adam
    >>> from optimkit.optim._declaration import capabilities, rule_signature
    >>> signature = rule_signature(Adam._rule)
    >>> [name for name, optional in signature.lists]
    ['step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']
    >>> [name for name, optional in signature.options][:4]
    ['lr', 'beta1', 'beta2', 'eps']
    >>> capabilities(Adam)["supports_fused"], capabilities(Adam)["has_momentum"]
    (True, False)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..registry import register_optimizer

__all__ = [
    "SPLIT_OPTIONS",
    "NOT_FILLED",
    "RuleSignature",
    "rule_signature",
    "constructor_options",
    "ordered_options",
    "capabilities",
    "register",
]

_T = TypeVar("_T", bound=type)

#: Rule arguments that are one element of a tuple option of the group: name -> (option, index).
SPLIT_OPTIONS: dict[str, tuple[str, int]] = {
    "beta1": ("betas", 0),
    "beta2": ("betas", 1),
    "etaminus": ("etas", 0),
    "etaplus": ("etas", 1),
    "step_size_min": ("step_sizes", 0),
    "step_size_max": ("step_sizes", 1),
    "eps1": ("eps", 0),
    "eps2": ("eps", 1),
}

# The first three parameters of every rule: the list operations, the parameters, the gradients.
_RULE_HEAD = 3


class _NotFilled:
    """Marks a flag that torch's ``__setstate__`` leaves alone (see ``_old_checkpoint_fills``)."""

    def __repr__(self) -> str:
        return "NOT_FILLED"


NOT_FILLED: Any = _NotFilled()


@dataclass(frozen=True)
class RuleSignature:
    """The arguments of a rule besides ``ops``, ``params`` and ``grads``.

    Attributes:
        lists: ``(name, optional)`` of each per-parameter list, in order; an optional one (a
            default of ``None``) is left out where the parameters have no such state.
        options: ``(name, optional)`` of each keyword-only argument, read from the group as the
            option ``name``, or as an element of a tuple option (:data:`SPLIT_OPTIONS`).
    """

    lists: tuple[tuple[str, bool], ...]
    options: tuple[tuple[str, bool], ...]


def rule_signature(rule: Callable[..., None]) -> RuleSignature:
    """The per-parameter lists and group options ``rule`` takes (computed once per rule).

    Kept as an attribute of the rule function, not in a ``functools`` cache: a compiled step
    reads it as a constant, where dynamo warns at every cached call it traces.
    """
    cached = getattr(rule, "_optimkit_signature", None)
    if cached is None:
        cached = _read_rule_signature(rule)
        rule._optimkit_signature = cached  # type: ignore[attr-defined]
    return cached


def _read_rule_signature(rule: Callable[..., None]) -> RuleSignature:
    parameters = list(inspect.signature(rule).parameters.values())[_RULE_HEAD:]
    lists = tuple(
        (p.name, p.default is not p.empty) for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    options = tuple((p.name, p.default is not p.empty) for p in parameters if p.kind is p.KEYWORD_ONLY)
    return RuleSignature(lists, options)


@functools.cache
def constructor_options(init: Callable[..., None]) -> dict[str, Any]:
    """The options a constructor declares: every parameter but ``self`` and ``params``, in order,
    with its default (``inspect.Parameter.empty`` for a required one)."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(init).parameters.items()
        if name not in ("self", "params") and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    }


@functools.cache
def ordered_options(init: Callable[..., None], reorder: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The option names of ``init`` in the order of the ``defaults`` dict: the signature's, except
    that the options named in ``reorder`` trade places among themselves, taking the positions
    they hold in the signature in the order listed (torch's own dicts differ so).

    Example:
        >>> def init(self, params, lr=1, foreach=None, maximize=False, fused=None): ...
        >>> ordered_options(init, ("maximize", "foreach"))
        ('lr', 'maximize', 'foreach', 'fused')
    """
    names = list(constructor_options(init))
    slots = sorted(names.index(name) for name in reorder)
    for slot, name in zip(slots, reorder):
        names[slot] = name
    return tuple(names)


@functools.cache
def constructor_flags(init: Callable[..., None]) -> tuple[str, ...]:
    """The flags among the options of ``init``: those annotated ``bool`` or ``bool | None``."""
    flag_types = {"bool", "bool|None", "Optional[bool]"}
    return tuple(
        name for name, parameter in inspect.signature(init).parameters.items()
        if parameter.annotation is bool or str(parameter.annotation).replace(" ", "") in flag_types
    )


@functools.cache
def strict_flags(init: Callable[..., None]) -> tuple[str, ...]:
    """The flags of ``init`` that have no ``None`` setting (``amsgrad``, ``maximize``): those a fused
    kernel takes as bools."""
    options = constructor_options(init)
    return tuple(name for name in constructor_flags(init) if options[name] is not None)


@functools.cache
def number_options(init: Callable[..., None]) -> tuple[str, ...]:
    """The options of ``init`` whose default is a number (``lr``, ``momentum``, ``eps``): those a
    fused kernel takes as numbers (or, for some, as a tensor)."""
    return tuple(
        name for name, default in constructor_options(init).items()
        if isinstance(default, (int, float)) and not isinstance(default, bool)
    )


def old_checkpoint_fills(cls: type, init: Callable[..., None]) -> dict[str, Any]:
    """The group options an old checkpoint may lack, with the value ``__setstate__`` fills in:
    the flags of ``init`` with their defaults, adjusted by the class's ``_old_checkpoint_fills``."""
    options = constructor_options(init)
    fills = {name: options[name] for name in constructor_flags(init)}
    for name in getattr(cls, "_own_options", ()):
        fills.pop(name, None)  # not torch's: a checkpoint without it simply did not set it
    for name, value in getattr(cls, "_old_checkpoint_fills", {}).items():
        if value is NOT_FILLED:
            fills.pop(name, None)
        else:
            fills[name] = value
    return fills


def capabilities(cls: type) -> dict[str, bool]:
    """The registry's capability flags of ``cls``: which of ``betas``, ``momentum``, ``foreach``,
    ``fused`` and ``differentiable`` its constructor takes, and the class's
    ``_supports_complex`` and ``_supports_sparse``."""
    options = constructor_options(cls.__init__)  # type: ignore[misc]
    return {
        "has_betas": "betas" in options,
        "has_momentum": "momentum" in options,
        "supports_foreach": "foreach" in options,
        # torch's fused kernels only: a compiled `fused` of optimkit's own is no torch capability.
        "supports_fused": "fused" in options and "fused" not in getattr(cls, "_own_options", ()),
        "supports_differentiable": "differentiable" in options,
        "supports_complex": bool(getattr(cls, "_supports_complex", True)),
        "supports_sparse": bool(getattr(cls, "_supports_sparse", False)),
    }


def register(
    name: str,
    *,
    description: str,
    torch_name: str | None = None,
    aliases: Sequence[str] = (),
) -> Callable[[_T], _T]:
    """Class decorator for an algorithm of :mod:`optimkit.optim`: read the class-level facts from
    its constructor (the options old checkpoints may lack, whether it has a foreach path) and
    register it with the capability flags of :func:`capabilities`.

    Subclasses that change only the signature (the Cerebras facades) inherit what is read here.
    """

    def decorate(cls: _T) -> _T:
        init = cls.__init__  # type: ignore[misc]
        cls._group_option_defaults = old_checkpoint_fills(cls, init)  # type: ignore[attr-defined]
        cls._supports_foreach = "foreach" in constructor_options(init)  # type: ignore[attr-defined]
        if getattr(cls, "_rule", None) is not None:
            rule_signature(cls._rule)  # type: ignore[attr-defined]  # read now, never while compiling
        return register_optimizer(
            name, description=description, torch_name=torch_name, aliases=aliases, **capabilities(cls)
        )(cls)

    return decorate


def group_options(rule: Callable[..., None], group: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``rule`` for ``group``: each by its own name, or as an element of
    a tuple option; an optional one the group lacks is left to the rule's default.

    Raises:
        KeyError: naming the group option a required argument needs.
    """
    values: dict[str, Any] = {}
    for name, optional in rule_signature(rule).options:
        if name in group:
            values[name] = group[name]
            continue
        source = SPLIT_OPTIONS.get(name)
        if source is not None and source[0] in group:
            values[name] = group[source[0]][source[1]]
        elif not optional:
            raise KeyError(source[0] if source is not None else name)
    return values
