"""Combinators: build a schedule out of other schedules."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Literal

from ._schedules import Schedule, _finite, _non_negative_int, _positive_int, anneal_cos, anneal_linear

__all__ = ["warmup", "join", "cycle", "multiply"]


def warmup(
    schedule: Schedule,
    warmup_steps: int,
    init_value: float = 0.0,
    anneal_strategy: Literal["linear", "cos"] = "linear",
) -> Schedule:
    r"""Ramp from ``init_value`` to ``schedule(0)`` over ``warmup_steps``, then run ``schedule``.

    .. math::
        f(t) = \begin{cases}
            a\bigl(v_0,\ g(0),\ t / W\bigr) & t < W \\
            g(t - W) & t \ge W
        \end{cases}

    where :math:`a` is :func:`~optimkit.schedules.anneal_linear` or
    :func:`~optimkit.schedules.anneal_cos`.

    Example:
        >>> from optimkit.schedules import warmup, exponential
        >>> f = warmup(exponential(0.5), warmup_steps=4)
        >>> [f(t) for t in range(7)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 0.5, 0.25]
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
    _non_negative_int("warmup_steps", warmup_steps)
    _finite("init_value", init_value)
    if anneal_strategy not in ("linear", "cos"):
        raise ValueError(f"anneal_strategy must be 'linear' or 'cos', got {anneal_strategy!r}")
    anneal = anneal_linear if anneal_strategy == "linear" else anneal_cos

    def f(t: float) -> float:
        if t < warmup_steps:
            return anneal(init_value, schedule(0), t / warmup_steps)
        return schedule(t - warmup_steps)

    return f


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run ``schedules[0]`` until ``boundaries[0]``, then ``schedules[1]`` (restarted at its own
    step 0) until ``boundaries[1]``, and so on (torch's ``SequentialLR``).

    .. math:: f(t) = g_i(t - b_{i-1}), \quad i = \#\{b_j \le t\}, \quad b_{-1} = 0

    Example:
        >>> from optimkit.schedules import join, linear, constant
        >>> f = join([linear(0.0, 1.0, 2), constant(0.5)], boundaries=[3])
        >>> [f(t) for t in range(5)]
        [0.0, 0.5, 1.0, 0.5, 0.5]
    """
    parts = list(schedules)
    marks = list(boundaries)
    if not parts:
        raise ValueError("join needs at least one schedule")
    for part in parts:
        if not callable(part):
            raise TypeError(f"schedules must be callables, got {type(part).__name__}")
    if len(marks) != len(parts) - 1:
        raise ValueError(f"join needs {len(parts) - 1} boundaries for {len(parts)} schedules, got {len(marks)}")
    for mark in marks:
        _non_negative_int("boundary", mark)
    if marks != sorted(marks):
        raise ValueError(f"boundaries must be non-decreasing, got {marks}")

    def f(t: float) -> float:
        i = bisect_right(marks, t)
        return parts[i](t - (marks[i - 1] if i else 0))

    return f


def cycle(schedule: Schedule, period: int) -> Schedule:
    r"""Repeat the first ``period`` steps of ``schedule`` forever.

    .. math:: f(t) = g(t \bmod P)

    Example:
        >>> from optimkit.schedules import cycle, linear
        >>> f = cycle(linear(0.0, 1.0, 2), period=3)
        >>> [f(t) for t in range(7)]
        [0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0]
    """
    if not callable(schedule):
        raise TypeError(f"schedule must be callable, got {type(schedule).__name__}")
    _positive_int("period", period)
    return lambda t: schedule(t % period)


def multiply(*schedules: Schedule) -> Schedule:
    r"""The product of several factor schedules (what chaining multiplicative schedulers gives).

    .. math:: f(t) = \prod_i g_i(t)

    Example:
        >>> from optimkit.schedules import multiply, step, constant
        >>> f = multiply(step(2, 0.5), constant(0.1, total_steps=1))
        >>> [f(t) for t in range(4)]
        [0.1, 1.0, 0.5, 0.5]
    """
    if not schedules:
        raise ValueError("multiply needs at least one schedule")
    for part in schedules:
        if not callable(part):
            raise TypeError(f"schedules must be callables, got {type(part).__name__}")

    def f(t: float) -> float:
        value = 1.0
        for part in schedules:
            value = value * part(t)
        return value

    return f
