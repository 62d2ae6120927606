"""Decay schedules in absolute values (Keras / Cerebras style): each starts from an initial value
rather than from a factor of 1.

They are the closed forms behind :mod:`optimkit.cerebras.optim.lr_scheduler`, and reuse the
factor schedules of :mod:`optimkit.schedules` wherever a formula already exists there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._combinators import join
from ._schedules import Schedule, _finite, _positive_finite, _positive_int, constant, exponential

__all__ = [
    "polynomial_decay",
    "exponential_decay",
    "inverse_time_decay",
    "inverse_square_root",
    "piecewise_constant",
]


def polynomial_decay(
    init_value: float,
    end_value: float,
    total_steps: int,
    power: float = 1.0,
    cycle: bool = False,
) -> Schedule:
    r"""Polynomial decay from ``init_value`` to ``end_value`` over ``total_steps`` (Keras'
    ``PolynomialDecay``).

    .. math::
        f(t) = (v_0 - v_1)\Bigl(1 - \frac{\tau}{D}\Bigr)^{p} + v_1

    Without ``cycle``, :math:`\tau = \min(t, T)` and :math:`D = T`: the value stays at
    :math:`v_1` after step :math:`T`. With ``cycle``, :math:`\tau = t` and the decay period grows
    to the next multiple of :math:`T`, :math:`D = T \max(1, \lceil t / T \rceil)`, so the value jumps
    back up at every multiple of :math:`T` and decays more slowly each time.

    Args:
        init_value: :math:`v_0`, the value at step 0.
        end_value: :math:`v_1`, the value at step :math:`T`.
        total_steps: :math:`T`, the decay period (positive int).
        power: :math:`p`, the exponent (1 for a straight line).
        cycle: grow the period instead of holding ``end_value``.

    Example:
        >>> from optimkit.schedules import polynomial_decay
        >>> f = polynomial_decay(1.0, 0.0, total_steps=4)
        >>> [f(t) for t in range(6)]
        [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
        >>> g = polynomial_decay(1.0, 0.0, total_steps=4, cycle=True)
        >>> [g(t) for t in (4, 5, 8, 9)]
        [0.0, 0.375, 0.0, 0.25]
    """
    _finite("init_value", init_value)
    _finite("end_value", end_value)
    _positive_int("total_steps", total_steps)
    _finite("power", power)
    height = init_value - end_value

    def f(t: float) -> float:
        if cycle:
            period = total_steps * max(1, math.ceil(t / total_steps))
            return height * (1.0 - t / period) ** power + end_value
        return height * (1.0 - min(t, total_steps) / total_steps) ** power + end_value

    return f


def exponential_decay(init_value: float, decay_steps: int, decay_rate: float, staircase: bool = False) -> Schedule:
    r"""Multiply by ``decay_rate`` every ``decay_steps`` steps, continuously or in stairs (Keras'
    ``ExponentialDecay``).

    .. math::
        f(t) = v_0\, r^{\,t / D} \quad\text{or, with staircase,}\quad f(t) = v_0\, r^{\lfloor t / D \rfloor}

    (the factor is :func:`~optimkit.schedules.exponential` evaluated at :math:`t / D`).

    Example:
        >>> from optimkit.schedules import exponential_decay
        >>> f = exponential_decay(1.0, decay_steps=2, decay_rate=0.25)
        >>> [f(t) for t in range(4)]
        [1.0, 0.5, 0.25, 0.125]
        >>> g = exponential_decay(1.0, decay_steps=2, decay_rate=0.25, staircase=True)
        >>> [g(t) for t in range(4)]
        [1.0, 1.0, 0.25, 0.25]
    """
    _finite("init_value", init_value)
    _positive_int("decay_steps", decay_steps)
    factor = exponential(decay_rate)
    if staircase:
        return lambda t: init_value * factor(t // decay_steps)
    return lambda t: init_value * factor(t / decay_steps)


def inverse_time_decay(
    init_value: float,
    decay_steps: int,
    decay_rate: float,
    staircase: bool = False,
    step_exponent: float = 1.0,
) -> Schedule:
    r"""Inverse time decay (Keras' ``InverseTimeDecay``, with Cerebras' exponent on the step).

    .. math::
        f(t) = \frac{v_0}{1 + r\,a(t)}, \qquad
        a(t) = \frac{t^{e}}{D} \quad\text{or, with staircase,}\quad a(t) = \Bigl\lfloor \frac{t^{e}}{D} \Bigr\rfloor

    Args:
        init_value: :math:`v_0`, the value at step 0.
        decay_steps: :math:`D`.
        decay_rate: :math:`r`.
        staircase: take the floor of :math:`t^e / D`.
        step_exponent: :math:`e` (1 gives Keras' schedule).

    Example:
        >>> from optimkit.schedules import inverse_time_decay
        >>> f = inverse_time_decay(1.0, decay_steps=1, decay_rate=1.0)
        >>> [f(t) for t in range(4)]
        [1.0, 0.5, 0.3333333333333333, 0.25]
        >>> g = inverse_time_decay(1.0, decay_steps=2, decay_rate=1.0, staircase=True, step_exponent=2)
        >>> [g(t) for t in range(4)]
        [1.0, 1.0, 0.3333333333333333, 0.2]
    """
    _finite("init_value", init_value)
    _positive_int("decay_steps", decay_steps)
    _finite("decay_rate", decay_rate)
    _finite("step_exponent", step_exponent)

    def f(t: float) -> float:
        progress = t**step_exponent / decay_steps
        if staircase:
            progress = math.floor(progress)
        return init_value / (1.0 + decay_rate * progress)

    return f


def inverse_square_root(init_value: float = 1.0, scale: float = 1.0, warmup_steps: float = 1) -> Schedule:
    r"""Inverse square-root decay, flat during the first ``warmup_steps`` steps.

    .. math:: f(t) = v_0\,\frac{s}{\sqrt{\max(t, W)}}

    Args:
        init_value: :math:`v_0`, a multiplier (Cerebras' ``initial_learning_rate``).
        scale: :math:`s`, a second multiplier.
        warmup_steps: :math:`W > 0`; the value is :math:`v_0 s / \sqrt{W}` until step :math:`W`.

    Example:
        >>> from optimkit.schedules import inverse_square_root
        >>> f = inverse_square_root(init_value=1.0, scale=2.0, warmup_steps=4)
        >>> [f(t) for t in (0, 4, 16, 64)]
        [1.0, 1.0, 0.5, 0.25]
    """
    _finite("init_value", init_value)
    _finite("scale", scale)
    _positive_finite("warmup_steps", warmup_steps)
    return lambda t: init_value * (scale / math.sqrt(max(t, warmup_steps)))


def piecewise_constant(values: Sequence[float], boundaries: Sequence[int]) -> Schedule:
    r"""``values[0]`` before ``boundaries[0]``, ``values[1]`` from there until ``boundaries[1]``,
    and so on; the last value holds forever.

    .. math:: f(t) = v_i, \quad i = \#\{b_j \le t\}

    (a :func:`~optimkit.schedules.join` of constants).

    Example:
        >>> from optimkit.schedules import piecewise_constant
        >>> f = piecewise_constant([0.1, 0.01, 0.001], boundaries=[2, 4])
        >>> [f(t) for t in range(6)]
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    """
    levels = list(values)
    marks = list(boundaries)
    if len(levels) != len(marks) + 1:
        raise ValueError(
            f"piecewise_constant needs one more value than boundaries, got {len(levels)} values "
            f"and {len(marks)} boundaries"
        )
    for value in levels:
        _finite("value", value)
    if any(b >= a for a, b in zip(marks[1:], marks[:-1])):
        raise ValueError(f"boundaries must be strictly increasing, got {marks}")
    return join([constant(v) for v in levels], marks)
