"""The schedules themselves: each function validates its arguments and returns ``f(step)``."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Literal

__all__ = [
    "Schedule",
    "constant",
    "step",
    "multistep",
    "linear",
    "exponential",
    "polynomial",
    "cosine",
    "cosine_warm_restarts",
    "cyclic",
    "one_cycle",
    "anneal_cos",
    "anneal_linear",
    "restart_position",
    "one_cycle_phase_ends",
    "phased_value",
    "cyclic_position",
    "cyclic_scale",
]

Schedule = Callable[[float], float]
"""A schedule: maps a step (an ``int``, or a ``float`` for fractional epochs) to a float."""


# --------------------------------------------------------------------------------------------
# Eager checks
# --------------------------------------------------------------------------------------------


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value  # type: ignore[return-value]


def _positive_finite(name: str, value: object) -> float:
    if _finite(name, value) <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Annealing between two values (shared by one-cycle, SWALR-like ramps and the combinators)
# --------------------------------------------------------------------------------------------


def anneal_cos(start: float, end: float, pct: float) -> float:
    r"""Half-cosine ramp from ``start`` (``pct = 0``) to ``end`` (``pct = 1``).

    .. math:: v = e + \frac{s - e}{2}\,\bigl(1 + \cos(\pi\,p)\bigr)

    Example:
        >>> from optimkit.schedules import anneal_cos
        >>> anneal_cos(1.0, 0.0, 0.5)
        0.5
    """
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def anneal_linear(start: float, end: float, pct: float) -> float:
    r"""Straight-line ramp from ``start`` (``pct = 0``) to ``end`` (``pct = 1``).

    .. math:: v = s + (e - s)\,p

    Example:
        >>> from optimkit.schedules import anneal_linear
        >>> anneal_linear(1.0, 0.0, 0.25)
        0.75
    """
    return (end - start) * pct + start


_ANNEAL: dict[str, Callable[[float, float, float], float]] = {"cos": anneal_cos, "linear": anneal_linear}


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


def constant(value: float = 1.0, total_steps: int | None = None) -> Schedule:
    r"""A constant ``value``; with ``total_steps``, ``value`` until then and ``1`` afterwards.

    .. math:: f(t) = v + [t \ge T]\,(1 - v)

    (torch's ``ConstantLR`` factor; without ``total_steps`` the indicator is always 0.)

    Args:
        value: the value (a factor in ``[0, 1]`` when ``total_steps`` is given).
        total_steps: the step from which the value is ``1``; ``None`` for never.

    Example:
        >>> from optimkit.schedules import constant
        >>> f = constant(0.5, total_steps=2)
        >>> [f(t) for t in range(4)]
        [0.5, 0.5, 1.0, 1.0]
    """
    _finite("value", value)
    if total_steps is None:
        return lambda t: value
    _non_negative_int("total_steps", total_steps)
    rest = 1 - value
    return lambda t: value + (t >= total_steps) * rest


def step(step_size: int, gamma: float = 0.1) -> Schedule:
    r"""Multiply by ``gamma`` every ``step_size`` steps.

    .. math:: f(t) = \gamma^{\lfloor t / s \rfloor}

    Example:
        >>> from optimkit.schedules import step
        >>> f = step(step_size=2, gamma=0.5)
        >>> [f(t) for t in range(5)]
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    _positive_int("step_size", step_size)
    _finite("gamma", gamma)
    return lambda t: gamma ** (t // step_size)


def multistep(milestones: Iterable[int], gamma: float = 0.1) -> Schedule:
    r"""Multiply by ``gamma`` at each milestone (a milestone listed twice counts twice).

    .. math:: f(t) = \gamma^{\#\{m_i \le t\}}

    Example:
        >>> from optimkit.schedules import multistep
        >>> f = multistep([2, 4, 4], gamma=0.5)
        >>> [f(t) for t in range(6)]
        [1.0, 1.0, 0.5, 0.5, 0.125, 0.125]
    """
    marks = sorted(milestones)
    for m in marks:
        _non_negative_int("milestone", m)
    _finite("gamma", gamma)
    return lambda t: gamma ** bisect_right(marks, t)


def linear(init_value: float, end_value: float, total_steps: int) -> Schedule:
    r"""Straight line from ``init_value`` at step 0 to ``end_value`` at ``total_steps``, then flat.

    .. math:: f(t) = v_0 + (v_1 - v_0)\,\frac{\min(t, T)}{T}

    Example:
        >>> from optimkit.schedules import linear
        >>> f = linear(0.0, 1.0, total_steps=4)
        >>> [f(t) for t in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    _finite("init_value", init_value)
    _finite("end_value", end_value)
    _positive_int("total_steps", total_steps)
    span = end_value - init_value
    return lambda t: init_value + span * min(total_steps, t) / total_steps


def exponential(gamma: float) -> Schedule:
    r"""Multiply by ``gamma`` every step.

    .. math:: f(t) = \gamma^{t}

    Example:
        >>> from optimkit.schedules import exponential
        >>> f = exponential(0.5)
        >>> [f(t) for t in range(4)]
        [1.0, 0.5, 0.25, 0.125]
    """
    _finite("gamma", gamma)
    return lambda t: gamma**t


def polynomial(total_steps: int, power: float = 1.0) -> Schedule:
    r"""Polynomial decay from 1 to 0 over ``total_steps``, then 0.

    .. math:: f(t) = \Bigl(1 - \frac{\min(t, T)}{T}\Bigr)^{p}

    Example:
        >>> from optimkit.schedules import polynomial
        >>> f = polynomial(total_steps=4, power=2.0)
        >>> [f(t) for t in range(6)]
        [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """
    _positive_int("total_steps", total_steps)
    _finite("power", power)
    return lambda t: (1.0 - min(total_steps, t) / total_steps) ** power


def cosine(total_steps: int, init_value: float = 1.0, end_value: float = 0.0, *, periodic: bool = False) -> Schedule:
    r"""Half-cosine from ``init_value`` at step 0 to ``end_value`` at ``total_steps``.

    .. math:: f(t) = v_1 + (v_0 - v_1)\,\frac{1 + \cos(\pi\,t / T)}{2}

    After ``total_steps`` the value stays at ``end_value``, or, with ``periodic=True``, the cosine
    goes on (back up to ``init_value`` at ``2T``), which is what torch's ``CosineAnnealingLR`` does.

    Example:
        >>> from optimkit.schedules import cosine
        >>> f = cosine(total_steps=2, init_value=1.0, end_value=0.0)
        >>> [round(f(t), 12) for t in range(5)]
        [1.0, 0.5, 0.0, 0.0, 0.0]
        >>> g = cosine(total_steps=2, periodic=True)
        >>> [round(g(t), 12) for t in range(5)]
        [1.0, 0.5, 0.0, 0.5, 1.0]
    """
    _positive_int("total_steps", total_steps)
    _finite("init_value", init_value)
    _finite("end_value", end_value)
    height = init_value - end_value

    def f(t: float) -> float:
        if not periodic:
            t = min(t, total_steps)
        return end_value + height * (1 + math.cos(math.pi * t / total_steps)) / 2

    return f


def restart_position(t: float, first_period: int, period_mult: int = 1) -> tuple[float, int]:
    r"""Where step ``t`` falls in a schedule with warm restarts: ``(t_cur, period)``.

    The periods are :math:`T_0, T_0 m, T_0 m^2, \dots`; ``t_cur`` is the step within the current
    period. Exact integer arithmetic (no logarithms) for integer ``t``.

    Example:
        >>> from optimkit.schedules import restart_position
        >>> [restart_position(t, 2, 2) for t in (0, 1, 2, 5, 6)]
        [(0, 2), (1, 2), (0, 4), (3, 4), (0, 8)]
    """
    if period_mult == 1:
        return t % first_period, first_period
    start, period = 0, first_period
    while t >= start + period:
        start += period
        period *= period_mult
    return t - start, period


def cosine_warm_restarts(
    first_period: int, period_mult: int = 1, init_value: float = 1.0, end_value: float = 0.0
) -> Schedule:
    r"""Cosine annealing restarted after periods :math:`T_0, T_0 m, T_0 m^2, \dots` (SGDR).

    .. math:: f(t) = v_1 + (v_0 - v_1)\,\frac{1 + \cos(\pi\,T_{cur} / T_i)}{2}

    where :math:`T_i` is the current period and :math:`T_{cur}` the steps since the last restart
    (see :func:`restart_position`).

    Args:
        first_period: :math:`T_0`, the length of the first period (positive int).
        period_mult: :math:`m`, the factor by which each period grows (int >= 1).
        init_value: the value at each restart.
        end_value: the value approached at the end of each period.

    Example:
        >>> from optimkit.schedules import cosine_warm_restarts
        >>> f = cosine_warm_restarts(2, period_mult=2)
        >>> [round(f(t), 6) for t in range(7)]
        [1.0, 0.5, 1.0, 0.853553, 0.5, 0.146447, 1.0]
    """
    _positive_int("first_period", first_period)
    if isinstance(period_mult, bool) or not isinstance(period_mult, int) or period_mult < 1:
        raise ValueError(f"period_mult must be an integer >= 1, got {period_mult!r}")
    _finite("init_value", init_value)
    _finite("end_value", end_value)
    height = init_value - end_value

    def f(t: float) -> float:
        t_cur, period = restart_position(t, first_period, period_mult)
        return end_value + height * (1 + math.cos(math.pi * t_cur / period)) / 2

    return f


CyclicMode = Literal["triangular", "triangular2", "exp_range"]


def cyclic_scale(mode: str, gamma: float = 1.0) -> tuple[Callable[[float], float], str]:
    """The amplitude scale function of a named cyclic ``mode`` and whether it takes the cycle
    number (``"cycle"``) or the step (``"iterations"``).

    Example:
        >>> from optimkit.schedules import cyclic_scale
        >>> fn, by = cyclic_scale("triangular2")
        >>> fn(3), by
        (0.25, 'cycle')
    """
    if mode == "triangular":
        return (lambda x: 1.0), "cycle"
    if mode == "triangular2":
        return (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
    if mode == "exp_range":
        return (lambda x: gamma**x), "iterations"
    raise ValueError(f"mode must be one of 'triangular', 'triangular2', 'exp_range', got {mode!r}")


def cyclic_position(t: float, total_size: float, step_ratio: float) -> tuple[int, float]:
    """``(cycle, rise)`` of step ``t`` in a cycle of ``total_size`` steps whose first
    ``step_ratio`` rises: the 1-based cycle number and the height in the triangle (0 at the base,
    1 at the top).

    Example:
        >>> from optimkit.schedules import cyclic_position
        >>> cyclic_position(3, 4.0, 0.5)
        (1, 0.5)
    """
    total, ratio = total_size, step_ratio
    cycle = math.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    rise = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    return cycle, rise


def cyclic(
    base_value: float,
    max_value: float,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: CyclicMode = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[float], float] | None = None,
    scale_mode: Literal["cycle", "iterations"] = "cycle",
) -> Schedule:
    r"""Cyclical values (Smith, "Cyclical Learning Rates for Training Neural Networks", 2017).

    The value rises linearly from ``base_value`` to ``max_value`` over ``step_size_up`` steps and
    falls back over ``step_size_down`` steps; the amplitude is scaled per cycle or per step:

    .. math::
        c = \lfloor 1 + t / (u + d) \rfloor, \quad
        x = 1 + t / (u + d) - c, \quad
        r = \begin{cases} x / \rho & x \le \rho \\ (x - 1) / (\rho - 1) & x > \rho \end{cases},
        \quad \rho = u / (u + d)

    .. math:: f(t) = b + (M - b)\, r\, s(c \text{ or } t)

    with :math:`s \equiv 1` (``"triangular"``), :math:`s(c) = 2^{1-c}` (``"triangular2"``),
    :math:`s(t) = \gamma^{t}` (``"exp_range"``), or ``scale_fn`` applied to the cycle number
    (``scale_mode="cycle"``) or the step (``"iterations"``). Swapping ``base_value`` and
    ``max_value`` gives the inverse cycle used for momentum.

    Example:
        >>> from optimkit.schedules import cyclic
        >>> f = cyclic(0.0, 1.0, step_size_up=2)
        >>> [f(t) for t in range(6)]
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
        >>> g = cyclic(0.0, 1.0, step_size_up=1, mode="triangular2")
        >>> [g(t) for t in range(6)]
        [0.0, 1.0, 0.0, 0.5, 0.0, 0.25]
    """
    _finite("base_value", base_value)
    _finite("max_value", max_value)
    _positive_int("step_size_up", step_size_up)
    if step_size_down is not None:
        _non_negative_int("step_size_down", step_size_down)
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    if scale_fn is None:
        scale, scale_mode = cyclic_scale(mode, gamma)
    else:
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        scale = scale_fn
    by_cycle = scale_mode == "cycle"
    span = max_value - base_value

    total = up + down
    ratio = up / total

    def f(t: float) -> float:
        cycle, rise = cyclic_position(t, total, ratio)
        return base_value + span * rise * scale(cycle if by_cycle else t)

    return f


def one_cycle_phase_ends(total_steps: int, pct_start: float, three_phase: bool) -> list[float]:
    """The last step of each one-cycle phase (as torch computes them; the first two may be
    fractional).

    Example:
        >>> from optimkit.schedules import one_cycle_phase_ends
        >>> one_cycle_phase_ends(10, 0.3, three_phase=True)
        [2.0, 4.0, 9]
    """
    if three_phase:
        return [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2, total_steps - 1]
    return [float(pct_start * total_steps) - 1, total_steps - 1]


def phased_value(
    t: float,
    ends: list[float],
    points: list[tuple[float, float]],
    anneal: Callable[[float, float, float], float],
) -> float:
    """Value at ``t`` of consecutive annealing phases: phase ``i`` covers steps up to ``ends[i]``
    (the last one also everything after) and ramps from ``points[i][0]`` to ``points[i][1]``.

    Raises:
        ValueError: when the phase that ``t`` falls in has zero length.

    Example:
        >>> from optimkit.schedules import phased_value, anneal_linear
        >>> phased_value(3, [1.0, 5.0], [(0.0, 1.0), (1.0, 0.0)], anneal_linear)
        0.5
    """
    start = 0.0
    last = len(ends) - 1
    for i, end in enumerate(ends):
        if t <= end or i == last:
            length = end - start
            if length == 0:
                raise ValueError(
                    f"phase {i} of the schedule has zero length (it starts and ends at step {end}); "
                    "choose pct_start and total_steps so that every phase spans at least one step"
                )
            return anneal(points[i][0], points[i][1], (t - start) / length)
        start = end
    raise AssertionError("unreachable")


def one_cycle(
    total_steps: int,
    peak_value: float,
    pct_start: float = 0.3,
    anneal_strategy: Literal["cos", "linear"] = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    *,
    initial_value: float | None = None,
    final_value: float | None = None,
    hold: bool = False,
) -> Schedule:
    r"""The 1cycle policy (Smith & Topin, "Super-Convergence", 2018).

    Two phases: ramp from :math:`v_0 = M / \text{div}` up to the peak :math:`M` over the first
    ``pct_start`` of the steps, then down to :math:`v_f = v_0 / \text{final\_div}`. Three phases:
    up to :math:`M`, back to :math:`v_0` (symmetric), then down to :math:`v_f`. Each phase uses
    ``"cos"`` (:func:`anneal_cos`) or ``"linear"`` (:func:`anneal_linear`) with
    :math:`p = (t - t_{start}) / (t_{end} - t_{start})`; phase ends are
    :math:`\rho T - 1` (and :math:`2\rho T - 2`) and :math:`T - 1`.

    For the inverse momentum cycle pass ``initial_value=max_momentum``,
    ``peak_value=base_momentum``, ``final_value=max_momentum``.

    Args:
        total_steps: :math:`T`, the number of steps in the cycle.
        peak_value: :math:`M`, the value at the top of the cycle.
        pct_start: :math:`\rho`, the fraction of the steps spent rising.
        anneal_strategy: ``"cos"`` or ``"linear"``.
        div_factor: :math:`v_0 = M / \text{div\_factor}` unless ``initial_value`` is given.
        final_div_factor: :math:`v_f = v_0 / \text{final\_div\_factor}` unless ``final_value``.
        three_phase: use the three-phase variant.
        initial_value: :math:`v_0` directly.
        final_value: :math:`v_f` directly.
        hold: keep :math:`v_f` for ``t >= T`` instead of raising ``ValueError`` for ``t > T``.

    Example:
        >>> from optimkit.schedules import one_cycle
        >>> f = one_cycle(10, 1.0, pct_start=0.5, anneal_strategy="linear", div_factor=10.0,
        ...               final_div_factor=1.0)
        >>> [round(f(t), 3) for t in range(10)]
        [0.1, 0.325, 0.55, 0.775, 1.0, 0.82, 0.64, 0.46, 0.28, 0.1]
    """
    _positive_int("total_steps", total_steps)
    _finite("peak_value", peak_value)
    if isinstance(pct_start, bool) or not isinstance(pct_start, (int, float)) or not 0 <= pct_start <= 1:
        raise ValueError(f"pct_start must be a number in [0, 1], got {pct_start!r}")
    if anneal_strategy not in _ANNEAL:
        raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', got {anneal_strategy!r}")
    _positive_finite("div_factor", div_factor)
    _positive_finite("final_div_factor", final_div_factor)
    v0 = peak_value / div_factor if initial_value is None else _finite("initial_value", initial_value)
    vf = v0 / final_div_factor if final_value is None else _finite("final_value", final_value)
    ends = one_cycle_phase_ends(total_steps, pct_start, three_phase)
    if ends[0] == 0:
        raise ValueError(
            f"the first phase of the cycle has zero length (pct_start * total_steps == 1 with "
            f"pct_start={pct_start}, total_steps={total_steps}); increase pct_start or total_steps"
        )
    points = [(v0, peak_value), (peak_value, v0), (v0, vf)] if three_phase else [(v0, peak_value), (peak_value, vf)]
    anneal = _ANNEAL[anneal_strategy]

    def f(t: float) -> float:
        if t > total_steps and not hold:
            raise ValueError(f"Tried to step {t} times. The specified number of total steps is {total_steps}")
        if hold and t >= total_steps:
            t = total_steps - 1
        return phased_value(t, ends, points, anneal)

    return f
