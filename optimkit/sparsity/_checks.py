"""Value checks shared by the sparsity algorithms and their schedules.

Every check raises :class:`~optimkit.config.ConfigError` (a ``ValueError``) whose path is the key
of the bad value *relative to the mapping being checked* and whose message starts with that path
rendered (``schedule.end=0 must be ...``). An enclosing level puts its own key in front with
:func:`relocate`, so the message a user reads always names the whole path, from a Python call
(``sparsity=1.5 must be in [0, 1)``) as from a config file (``sparsity.sparsity=1.5 ...``).

Example:
    >>> from optimkit.sparsity._checks import fraction, relocate
    >>> try:
    ...     fraction(1.5, ("sparsity",))
    ... except ValueError as error:
    ...     print(relocate(error, ("sparsity",)))
    sparsity.sparsity=1.5 must be a number in [0, 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from .._binder import ConfigError, KeyPath, Wording, render_path

__all__ = ["ALGORITHM_WORDING", "WORDING", "fail", "fraction", "integer", "relocate", "within"]

WORDING = Wording(
    unknown="unknown key {key!r}; valid keys: {valid}{hint}",
    missing="missing required key(s): {missing}",
    invalid="{key}={value!r} is not {expected}",
    legacy="legacy key {key!r}: {advice}",
    twice="{name!r} given twice: under its name and as an alias",
)
"""The binder's messages for the mappings inside a sparsity section (``schedule``, ``update``):
each starts with the key it is about, or names none, so :func:`relocate` can put the enclosing
path in front."""

ALGORITHM_WORDING = Wording(
    unknown="unknown key {key!r} for {what}; valid keys: {valid}{hint}",
    missing="{what} is missing required key(s): {missing}",
    invalid="{key}={value!r} is not {expected}",
    legacy="legacy key {key!r} for {what}: {advice}",
    twice="{name!r} given twice for {what}: under its name and as an alias",
)
"""As :data:`WORDING`, naming the algorithm (``what``) for the section itself."""

_T = TypeVar("_T")


def fail(path: KeyPath, value: Any, expected: str) -> ConfigError:
    """``<path>=<value> must be <expected>`` at ``path``."""
    return ConfigError(f"{render_path(path)}={value!r} must be {expected}", path=path)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fraction(value: Any, path: KeyPath, *, above_zero: bool = False, up_to_one: bool = False) -> float:
    """``value`` as a float in ``[0, 1)`` (``(0, ...`` with ``above_zero``, ``..., 1]`` with
    ``up_to_one``).

    Raises:
        ConfigError: for anything else (a bool, a string, NaN, a number out of range).
    """
    low, high = ("(0" if above_zero else "[0"), ("1]" if up_to_one else "1)")
    if not _is_number(value) or not math.isfinite(value):
        raise fail(path, value, f"a number in {low}, {high}")
    number = float(value)
    if (number <= 0 if above_zero else number < 0) or (number > 1 if up_to_one else number >= 1):
        raise fail(path, value, f"a number in {low}, {high}")
    return number


def integer(value: Any, path: KeyPath, *, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (a float with an integral value is taken: YAML's
    ``1e3``).

    Raises:
        ConfigError: for a bool, a non-integral number or one below ``minimum``.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(path, value, f"an integer >= {minimum}")
    return value


def relocate(error: ConfigError, prefix: KeyPath) -> ConfigError:
    """``error`` seen from ``prefix`` (an enclosing key): the path gains ``prefix`` in front, and
    so does the message, in place of the path it starts with (or in front of it).

    Example:
        >>> from optimkit._binder import ConfigError
        >>> e = relocate(ConfigError("schedule.end=0 must be > 0", path=("schedule", "end")), ("sparsity",))
        >>> e.path, e.message
        (('sparsity', 'schedule', 'end'), 'sparsity.schedule.end=0 must be > 0')
    """
    if not prefix:
        return error
    path = tuple(prefix) + error.path
    for depth in range(len(error.path), 0, -1):
        head = render_path(error.path[:depth])
        rest = error.message[len(head):]
        if error.message.startswith(head) and (not rest or rest[0] in "=:.[ "):
            return error._evolve(path=path, message=render_path(tuple(prefix) + error.path[:depth]) + rest)
    return error._evolve(path=path, message=f"{render_path(prefix)}: {error.message}")


def within(prefix: KeyPath, build: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``build(*args, **kwargs)``, its ConfigErrors relocated under ``prefix``."""
    try:
        return build(*args, **kwargs)
    except ConfigError as error:
        raise relocate(error, prefix) from None
