"""When masks change and to what level: GMP's cubic ramp and the update steps of SET and RigL.

Steps count optimizer steps: ``t`` is the number of ``optimizer.step()`` calls the algorithm has
seen (``t = 0`` at configure time, ``t = 1`` after the first step). Everything here is a pure
function of ``t``, so a resumed run needs nothing but the step count.

**GMP** (Zhu & Gupta 2017, "To prune, or not to prune") raises the sparsity from ``s_i`` to
``s_f`` over ``n`` pruning steps ``Δt`` apart, starting at ``t_0``:

.. math::

    s_t = s_f + (s_i - s_f) \\left(1 - \\frac{t - t_0}{n \\Delta t}\\right)^3,
    \\qquad t \\in \\{t_0, t_0 + \\Delta t, \\dots, t_0 + n \\Delta t\\}

``start`` is :math:`t_0`, ``end`` is :math:`t_0 + n \\Delta t` and ``freq`` is
:math:`\\Delta t`; when ``end - start`` is not a multiple of ``freq``, ``end`` is a pruning step
too, so the target is always reached at ``end``. Between pruning steps the level stays where the
last one put it (a staircase under the curve's points).

**SET / RigL** change the mask every ``freq`` steps from ``start`` (and before ``stop``); the
fraction of kept weights they move is ``drop_fraction``, constant or decayed along a cosine
(Evci et al. 2020):

.. math::

    d_t = \\frac{d_0}{2} \\left(1 + \\cos\\frac{\\pi (t - t_{start})}{t_{stop} - t_{start}}\\right)

Example:
    >>> from optimkit.sparsity import GMPSchedule
    >>> ramp = GMPSchedule(start=0, end=4, freq=1)
    >>> [round(ramp.sparsity_at(t, final=0.8), 4) for t in range(6)]
    [0.0, 0.4625, 0.7, 0.7875, 0.8, 0.8]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._binder import ConfigError
from ._checks import fail, fraction, integer

__all__ = ["GMPSchedule", "UpdateSchedule", "cosine_decay"]


@dataclass(frozen=True, kw_only=True)
class GMPSchedule:
    """GMP's ramp: from ``initial_sparsity`` at step ``start`` to the algorithm's target sparsity
    at step ``end``, pruning every ``freq`` steps along Zhu & Gupta's cubic (module docstring).

    Attributes:
        start: :math:`t_0`, the first pruning step (0: the mask made at configure time is the
            first, at ``initial_sparsity``).
        end: :math:`t_0 + n \\Delta t`, the step at which the target sparsity is reached.
        freq: :math:`\\Delta t`, steps between two pruning steps.
        initial_sparsity: :math:`s_i`, the level up to ``start``.

    Raises:
        ConfigError: (a ``ValueError``) a negative ``start``, an ``end`` not after ``start``, a
            ``freq`` below 1, an ``initial_sparsity`` outside ``[0, 1)``.

    Example:
        >>> from optimkit.sparsity import GMPSchedule
        >>> ramp = GMPSchedule(start=10, end=40, freq=10, initial_sparsity=0.2)
        >>> [t for t in range(50) if ramp.is_update_step(t)]
        [10, 20, 30, 40]
        >>> ramp.sparsity_at(25, final=0.9) == ramp.curve(20, final=0.9)  # the staircase holds step 20's level
        True
    """

    start: int = 0
    end: int
    freq: int = 1
    initial_sparsity: float = 0.0

    def __post_init__(self) -> None:
        integer(self.start, ("start",), minimum=0)
        integer(self.freq, ("freq",), minimum=1)
        if integer(self.end, ("end",), minimum=1) <= self.start:
            raise fail(("end",), self.end, f"after start={self.start!r}")
        fraction(self.initial_sparsity, ("initial_sparsity",))
        for name in ("start", "end", "freq"):  # YAML's 1e3 arrives as 1000.0
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "initial_sparsity", float(self.initial_sparsity))

    def check_final(self, final: float) -> None:
        """Raise unless the ramp goes up (or stays level) to ``final``, which GMP's masks, only
        ever shrinking, need.

        Raises:
            ConfigError: at ``schedule.initial_sparsity``.
        """
        if self.initial_sparsity > final:
            raise ConfigError(f"schedule.initial_sparsity={self.initial_sparsity!r} must not be above the target "
                              f"sparsity={final!r} (GMP only prunes)", path=("schedule", "initial_sparsity"))

    def curve(self, step: int, *, final: float) -> float:
        """Zhu & Gupta's :math:`s_t` at ``step``, clamped to :math:`s_i` before ``start`` and to
        :math:`s_f` = ``final`` after ``end``."""
        if step <= self.start:
            return self.initial_sparsity
        if step >= self.end:
            return final
        remaining = 1.0 - (step - self.start) / (self.end - self.start)
        return final + (self.initial_sparsity - final) * remaining**3

    def is_update_step(self, step: int) -> bool:
        """Whether the masks are pruned after optimizer step ``step`` (``start``, every ``freq``
        steps after it, and ``end``); step 0, configure time, makes the first mask anyway."""
        if step < self.start or step > self.end:
            return False
        return step == self.end or (step - self.start) % self.freq == 0

    def last_update(self, step: int) -> int:
        """The latest pruning step ``<= step`` (``0``, configure time, before ``start``)."""
        if step < self.start:
            return 0
        if step >= self.end:
            return self.end
        return self.start + (step - self.start) // self.freq * self.freq

    def sparsity_at(self, step: int, *, final: float) -> float:
        """The level the masks hold after ``step`` optimizer steps: :meth:`curve` at the last
        pruning step up to ``step`` (configure time's level before ``start``)."""
        return self.curve(self.last_update(step), final=final)


@dataclass(frozen=True, kw_only=True)
class UpdateSchedule:
    """When SET and RigL move connections: every ``freq`` steps from ``start`` (inclusive) up to
    ``stop`` (exclusive; ``None``: to the end of training), as Cerebras' ``update`` mapping.

    Raises:
        ConfigError: (a ``ValueError``) a ``freq`` below 1, a negative ``start``, a ``stop`` not
            after ``start``.

    Example:
        >>> from optimkit.sparsity import UpdateSchedule
        >>> every = UpdateSchedule(freq=3, start=2, stop=10)
        >>> [t for t in range(1, 15) if every.is_update_step(t)]
        [2, 5, 8]
    """

    freq: int = 100
    start: int = 0
    stop: int | None = None

    def __post_init__(self) -> None:
        integer(self.freq, ("freq",), minimum=1)
        integer(self.start, ("start",), minimum=0)
        if self.stop is not None and integer(self.stop, ("stop",), minimum=1) <= self.start:
            raise fail(("stop",), self.stop, f"after start={self.start!r}")
        for name in ("freq", "start"):
            object.__setattr__(self, name, int(getattr(self, name)))
        if self.stop is not None:
            object.__setattr__(self, "stop", int(self.stop))

    def is_update_step(self, step: int) -> bool:
        """Whether the masks change after optimizer step ``step`` (``step >= 1``)."""
        if step < max(self.start, 1) or (self.stop is not None and step >= self.stop):
            return False
        return (step - self.start) % self.freq == 0


def cosine_decay(initial: float, step: int, start: int, stop: int) -> float:
    """RigL's drop fraction at ``step``: ``initial`` at ``start``, along a half cosine to 0 at
    ``stop``.

    Example:
        >>> cosine_decay(0.3, 50, 0, 100)
        0.15
    """
    progress = min(max((step - start) / (stop - start), 0.0), 1.0)
    return initial / 2 * (1 + math.cos(math.pi * progress))
