r"""Scaling a schedule by a constant: what turns a factor schedule into absolute values (Cerebras'
``StepLR(initial_learning_rate, ...)`` is :math:`\eta_0` times :func:`step`), a per-group
multiplier (muP's ``adjust_learning_rate``), or a schedule into a factor relative to its initial
value (the children of Cerebras' ``ChainedScheduler``)."""

from __future__ import annotations

from typing import Any

from ._schedules import Schedule

__all__ = ["scaled", "normalized"]


def _check_callable(schedule: object) -> None:
    if not callable(schedule):
        raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")


def scaled(schedule: Schedule, factor: Any) -> Schedule:
    r"""``schedule`` times a constant ``factor``.

    .. math:: f(t) = c\, g(t)

    ``factor`` is used as given (any number; it is not checked for finiteness), so schedulers
    keep accepting exactly the values they accepted before they were built on this function.
    The product is ``factor * schedule(t)``, in that order.

    Example:
        >>> from optimkit.schedules import scaled, step
        >>> f = scaled(step(2, 0.5), 0.1)
        >>> [f(t) for t in range(5)]
        [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    _check_callable(schedule)

    def f(t: float) -> float:
        return factor * schedule(t)

    return f


def normalized(schedule: Schedule, reference: float) -> Schedule:
    r"""``schedule`` relative to ``reference`` (usually its initial value): a factor that is 1
    where the schedule equals the reference.

    .. math:: f(t) = g(t) / r

    The quotient is computed as ``schedule(t) / reference`` (not as a product with
    :math:`1/r`, which would round differently).

    Raises:
        ValueError: when ``reference`` is 0 (the factor would be undefined).

    Example:
        >>> from optimkit.schedules import normalized, linear
        >>> f = normalized(linear(4.0, 1.0, total_steps=3), 4.0)
        >>> [f(t) for t in range(4)]
        [1.0, 0.75, 0.5, 0.25]
    """
    _check_callable(schedule)
    if reference == 0:
        raise ValueError("reference must be non-zero: the relative factor of a schedule is undefined against 0")

    def f(t: float) -> float:
        return schedule(t) / reference

    return f
