"""Cyclical schedules, stepped after every batch: :class:`CyclicLR`,
:class:`CosineAnnealingWarmRestarts` and :class:`OneCycleLR`.

The step path of :class:`CyclicLR` and :class:`OneCycleLR` (``_next_lrs``, behind both ``get_lr``
and the fast ``step()``) does torch's arithmetic written out here, so the values are torch's bit
for bit; their closed forms (``lr_at``,
``momentum_at``) come from the pure schedules of :mod:`optimkit.schedules`. The two are separate
computations on purpose: the tests compare each with the other and with torch.
"""

from __future__ import annotations

import math
import numbers
import types
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, ClassVar, Literal

from ... import schedules as _sched
from ...registry import register_scheduler
from ._base import (
    LRScheduler,
    Number,
    _check_optimizer,
    _detached_copy,
    _Flag,
    _float,
    _per_group,
    _set_group_value,
    _set_momentum,
    _StateError,
    _TorchOptimizer,
    _warn_unless_in_step,
)


def _momentum_key_check(optimizer: _TorchOptimizer) -> bool:
    """``True`` when momentum is cycled through ``betas[0]``, ``False`` for ``momentum``."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    return "betas" in optimizer.defaults


def _start_momentum_cycle(
    optimizer: _TorchOptimizer, use_beta1: bool, lows: list[Any], highs: list[Any]
) -> None:
    """Record ``base_momentum`` / ``max_momentum`` in the groups and set the momentum to the
    upper bound. Every slot gets its own copy of a Tensor value: the momentum slot is later
    filled in place and must not drag the recorded bounds along."""
    for group, low, high in zip(optimizer.param_groups, lows, highs):
        _set_momentum(group, _detached_copy(high), use_beta1)
        group["max_momentum"] = _detached_copy(high)
        group["base_momentum"] = _detached_copy(low)


def _write_momentum(group: dict[str, Any], value: Any, use_beta1: bool) -> None:
    """:func:`_set_momentum`, with its plain cases written here directly, as the same write
    without its key parsing: a float ``momentum`` replaced, a tuple of float ``betas`` rebuilt
    (isinstance against Tensor is slow for a float). This runs for every group at every step
    of the per-batch schedulers; Tensor entries and other containers go through it."""
    if use_beta1:
        betas = group["betas"]
        if type(betas) is tuple and type(betas[0]) is float:
            group["betas"] = (value, *betas[1:])
            return
    elif type(group["momentum"]) is float:
        group["momentum"] = value
        return
    _set_momentum(group, value, use_beta1)


# Amplitude scales of CyclicLR's named modes. Module-level functions (and a partial of one), not
# bound methods: the scheduler then holds no reference cycle and pickles.
def _triangular_scale(x: float) -> float:
    """``"triangular"``: the same amplitude in every cycle."""
    return 1.0


def _triangular2_scale(x: float) -> float:
    """``"triangular2"``: the amplitude halves from one cycle (``x``, counted from 1) to the next."""
    return 1 / (2.0 ** (x - 1))


def _exp_range_scale(gamma: float, x: float) -> float:
    """``"exp_range"``: the amplitude decays by ``gamma`` at every step ``x``."""
    return gamma**x


_NAMED_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _named_scale(mode: str, gamma: float) -> tuple[Callable[[float], float], str]:
    """The scale of a named mode and what it is a function of (``"cycle"`` or ``"iterations"``)."""
    if mode == "exp_range":
        return partial(_exp_range_scale, gamma), "iterations"
    return (_triangular_scale if mode == "triangular" else _triangular2_scale), "cycle"


@register_scheduler("cycliclr", description="cyclical learning rate (and inverse momentum) policy", torch_name="CyclicLR")
class CyclicLR(LRScheduler):
    r"""Cyclical learning rate policy (Smith, 2017), stepped after every batch.

    The learning rate moves between ``base_lr`` and ``max_lr`` along a triangle of
    ``step_size_up + step_size_down`` steps whose amplitude is scaled by the mode (see
    :func:`optimkit.schedules.cyclic` for the formula); with ``cycle_momentum`` the momentum
    (or ``betas[0]``) moves the opposite way between ``max_momentum`` and ``base_momentum``.

    * ``"triangular"``: constant amplitude;
    * ``"triangular2"``: amplitude halved every cycle;
    * ``"exp_range"``: amplitude scaled by :math:`\gamma^{t}`;
    * ``scale_fn``: a custom scale, of the cycle number (``scale_mode="cycle"``) or of the step
      (``"iterations"``); ``mode`` is then ignored.

    The state dict is plain data (it loads with ``torch.load(weights_only=True)``): a custom
    ``scale_fn`` that is a function or lambda is stored as absent (``None``) and must be passed
    again to the constructor before loading; of a callable object only its ``__dict__`` is
    stored. Tensor learning rates and Tensor ``betas`` are updated in place.

    Args:
        optimizer (Optimizer): the optimizer.
        base_lr (float or list): lower learning rate bound, or one per group.
        max_lr (float or list): upper learning rate bound, or one per group.
        step_size_up (int): steps of the rising half (default: 2000).
        step_size_down (int, optional): steps of the falling half (default: ``step_size_up``).
        mode (str): ``"triangular"``, ``"triangular2"`` or ``"exp_range"`` (default: triangular).
        gamma (float): the base of the ``"exp_range"`` scale (default: 1.0).
        scale_fn (callable, optional): a custom scale function (default: None).
        scale_mode (str): ``"cycle"`` or ``"iterations"``, the argument of ``scale_fn``.
        cycle_momentum (bool): cycle the momentum inversely (default: True); only then must the
            optimizer have ``momentum`` or ``betas``.
        base_momentum (float or list): lower momentum bound (default: 0.8).
        max_momentum (float or list): upper momentum bound (default: 0.9).
        last_epoch (int): index of the last batch (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> from optimkit.optim.lr_scheduler import CyclicLR
        >>> opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
        >>> sched = CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2)
        >>> [round(sched.lr_at(t)[0], 6) for t in range(5)]
        [0.1, 0.3, 0.5, 0.3, 0.1]
        >>> round(opt.param_groups[0]["momentum"], 6)
        0.9
    """

    _legacy_state: ClassVar[frozenset[str]] = LRScheduler._legacy_state | {"_scale_fn_ref"}
    _per_group_state: ClassVar[frozenset[str]] = LRScheduler._per_group_state | {
        "max_lrs", "base_momentums", "max_momentums"}
    _nullable_state: ClassVar[frozenset[str]] = frozenset({"_scale_fn_custom"})

    def __init__(
        self, optimizer: _TorchOptimizer, base_lr: float | list[float], max_lr: float | list[float],
        step_size_up: int = 2000, step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular", gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None, scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True, base_momentum: float = 0.8, max_momentum: float = 0.9, last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        lows = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for group, low in zip(optimizer.param_groups, lows):
                _set_group_value(group, "lr", low)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        rising = float(step_size_up)
        falling = rising if step_size_down is None else float(step_size_down)
        self.total_size = rising + falling
        self.step_ratio = rising / self.total_size
        if scale_fn is None and mode not in _NAMED_CYCLIC_MODES:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key_check(optimizer)
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                _start_momentum_cycle(optimizer, self.use_beta1, self.base_momentums, self.max_momentums)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = lows

    def _init_scale_fn(self) -> None:
        """Pick the scale of a named mode (and the argument it takes); a custom one stays."""
        if self._scale_fn_custom is None and self.mode in _NAMED_CYCLIC_MODES:
            self._scale_fn_ref, self.scale_mode = _named_scale(self.mode, self.gamma)

    def scale_fn(self, x: float) -> float:
        """The amplitude scale at ``x`` (a cycle number or a step, see ``scale_mode``)."""
        custom = self._scale_fn_custom
        return custom(x) if custom is not None else self._scale_fn_ref(x)

    # ---- the step path: torch's arithmetic, written out here --------------------------------

    def _triangle(self, t: float) -> tuple[int, float]:
        """Cycle number (from 1) and height in the triangle (0 at ``base_lr``, 1 at ``max_lr``)
        of step ``t``."""
        progress = t / self.total_size
        cycle = math.floor(1 + progress)
        x = 1.0 + progress - cycle
        ratio = self.step_ratio
        return cycle, (x / ratio if x <= ratio else (x - 1) / (ratio - 1))

    def get_lr(self) -> list[Number]:
        """The learning rates at ``last_epoch`` (and set the momenta); closed form, as in torch."""
        _warn_unless_in_step(self)
        return self._next_lrs()

    def _next_lrs(self) -> list[Number]:
        # The rule, shared by get_lr and the fast step path. The momenta are written here, as
        # torch's get_lr does, before the caller writes the learning rates.
        t = self.last_epoch
        cycle, height = self._triangle(t)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        # Products left to right, as torch: ((top - bottom) * height) * scale.
        lrs = [low + (high - low) * height * scale for low, high in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            use_beta1 = self.use_beta1
            for group, low, high in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                _write_momentum(group, high - (high - low) * height * scale, use_beta1)
        return lrs

    def _step_fast(self) -> None:
        # A custom scale_fn is the user's code, which may look at the scheduler while it runs
        # (torch calls it inside get_lr, flagged as called by step): the general path.
        if self._scale_fn_custom is not None:
            self._step_with_get_lr()
        else:
            self._store_lrs(self._next_lrs())

    # ---- the closed form: optimkit.schedules.cyclic ----------------------------------------

    def _step_sizes(self) -> tuple[int, int] | None:
        """``(step_size_up, step_size_down)`` recovered from torch's state (which keeps only the
        total and the ratio); ``None`` when they are not whole numbers."""
        up = round(self.total_size * self.step_ratio)
        down = round(self.total_size) - up
        if up >= 1 and down >= 0 and up + down == self.total_size and up / self.total_size == self.step_ratio:
            return up, down
        return None

    def _schedule(self, start: Any, peak: Any) -> _sched.Schedule:
        """The pure cyclic schedule from ``start`` to ``peak`` (peak below start: the momentum)."""
        sizes = self._step_sizes()
        custom = self._scale_fn_custom
        if sizes is None:
            return self._fractional_schedule(_float(start), _float(peak))
        if custom is None:
            return _sched.cyclic(_float(start), _float(peak), *sizes, mode=self.mode, gamma=self.gamma)
        by = "cycle" if self.scale_mode == "cycle" else "iterations"
        return _sched.cyclic(_float(start), _float(peak), *sizes, scale_fn=custom, scale_mode=by)

    def _fractional_schedule(self, start: float, peak: float) -> _sched.Schedule:
        # Step sizes that are not integers (torch accepts floats): the pure schedule's pieces.
        scale = self._scale_fn_custom or _sched.cyclic_scale(self.mode, self.gamma)[0]

        def at(t: float) -> float:
            cycle, height = _sched.cyclic_position(t, self.total_size, self.step_ratio)
            return start + (peak - start) * height * scale(cycle if self.scale_mode == "cycle" else t)

        return at

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the learning rates at ``step``."""
        return [self._schedule(low, high)(step) for low, high in zip(self.base_lrs, self.max_lrs)]

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form: the momenta at ``step`` (``None`` without ``cycle_momentum``)."""
        if not self.cycle_momentum:
            return None
        return [self._schedule(high, low)(step) for low, high in zip(self.base_momentums, self.max_momentums)]

    # ---- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The state as plain data; see the class docstring about ``scale_fn``."""
        state = super().state_dict()
        state.pop("_scale_fn_ref", None)  # rebuilt from ``mode`` on loading
        custom = state.pop("_scale_fn_custom")
        keep = custom is not None and not isinstance(custom, types.FunctionType)
        state["_scale_fn_custom"] = custom.__dict__.copy() if keep else None
        return state

    def _check_state(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        state = super()._check_state(state_dict)
        error = _StateError(self)
        attrs = state["_scale_fn_custom"]
        if attrs is not None and not isinstance(attrs, Mapping):
            raise error.kind("_scale_fn_custom", "dict or None", attrs)
        if attrs is not None and self._scale_fn_custom is None:
            raise error.value("_scale_fn_custom", "holds the attributes of a custom scale_fn, but this CyclicLR "
                              "has none: construct it with the same scale_fn before loading")
        if self._scale_fn_custom is None and state["mode"] not in _NAMED_CYCLIC_MODES:
            raise error.value("mode", f"must be one of {_NAMED_CYCLIC_MODES} without a custom scale_fn")
        return state

    def _apply_state(self, state: dict[str, Any]) -> None:
        attrs = state.pop("_scale_fn_custom")
        super()._apply_state(state)
        if attrs is not None:
            self._scale_fn_custom.__dict__.update(attrs)  # a custom scale_fn given to the constructor
        self._init_scale_fn()


@register_scheduler(
    "cosineannealingwarmrestarts", description="cosine annealing with warm restarts (SGDR)",
    torch_name="CosineAnnealingWarmRestarts",
)
class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing with warm restarts (Loshchilov & Hutter, "SGDR", 2017).

    .. math:: \eta_t = \eta_{min} + (\eta_0 - \eta_{min})\,\frac{1 + \cos(\pi T_{cur} / T_i)}{2}

    where :math:`T_i` (first :math:`T_0`, multiplied by ``T_mult`` at each restart) is the current
    period and :math:`T_{cur}` the steps since the last restart; ``step(epoch)`` accepts
    fractional epochs. The position at an explicit epoch (or a resumed ``last_epoch``) is found
    with exact integer arithmetic, where torch uses a logarithm (which can land one period off at
    a restart boundary, and is not applied at all when resuming with ``last_epoch``).

    Args:
        optimizer (Optimizer): the optimizer.
        T_0 (int): the first period.
        T_mult (int): the growth factor of the periods (default: 1).
        eta_min (float): the minimum learning rate (default: 0).
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import CosineAnnealingWarmRestarts
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        >>> [round(sched.lr_at(t)[0], 4) for t in range(7)]
        [1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0]
    """

    def __init__(
        self, optimizer: _TorchOptimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        # torch's checks, in its order (a non-number T_0 fails in the comparison, as in torch).
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        self.T_0 = T_0
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_mult = T_mult
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        self.T_i = T_0
        # Only a number can resume here; anything else goes on to the base class, which fails as
        # torch's does (no initial_lr) or is torch's problem at the first step.
        if isinstance(last_epoch, numbers.Real) and last_epoch >= 0:
            self.T_cur, self.T_i = _sched.restart_position(last_epoch, T_0, T_mult)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """The learning rates at the current position ``T_cur`` of period ``T_i``."""
        _warn_unless_in_step(self)
        low = self.eta_min
        return [low + (base - low) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2 for base in self.base_lrs]

    def lr_at(self, step: float) -> list[Number]:
        """Closed form: the learning rates at ``step`` (fractional steps allowed)."""
        return [
            _sched.cosine_warm_restarts(self.T_0, self.T_mult, _float(base), self.eta_min)(step)
            for base in self.base_lrs
        ]

    def _advance(self) -> None:
        """One step further in the current period; past its end, restart in a period ``T_mult``
        times longer."""
        position = self.T_cur + 1
        if position >= self.T_i:
            position = position % self.T_i
            self.T_i = self.T_i * self.T_mult
        self.T_cur = position

    def step(self, epoch: float | None = None) -> None:
        """Advance by one step, or jump to ``epoch`` (may be fractional, e.g. ``e + i / n``).

        Stepping and jumping may be interleaved: after ``step(26)``, ``step()`` goes to 27.
        """
        if epoch is None and self.last_epoch >= 0:
            self._advance()
            target: float = self.last_epoch + 1
        else:
            target = 0 if epoch is None else epoch  # the constructor's step lands on 0
            if target < 0:
                raise ValueError(f"Expected non-negative epoch, but got {target}")
            self.T_cur, self.T_i = _sched.restart_position(target, self.T_0, self.T_mult)
        self.last_epoch = math.floor(target)
        with _Flag(self, "_get_lr_called_within_step"):
            values = self.get_lr()
        self._write_lrs(values)


_PHASE_POINTS_2 = [("initial_lr", "max_lr", "max_momentum", "base_momentum"),
                   ("max_lr", "min_lr", "base_momentum", "max_momentum")]
_PHASE_POINTS_3 = [("initial_lr", "max_lr", "max_momentum", "base_momentum"),
                   ("max_lr", "initial_lr", "base_momentum", "max_momentum"),
                   ("initial_lr", "min_lr", "max_momentum", "max_momentum")]
_PHASE_KEYS = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")


def _cycle_length(total_steps: int | None, epochs: int | None, steps_per_epoch: int | None) -> int:
    """The number of steps of a one-cycle schedule, with torch's checks and messages."""
    if total_steps is not None:
        if total_steps <= 0 or not isinstance(total_steps, int):
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"Expected positive integer epochs, but got {epochs}")
    if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
        raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
    return epochs * steps_per_epoch


def _zero_length_phase(index: int, end: float) -> ValueError:
    return ValueError(
        f"OneCycleLR's phase {index} has zero length (it ends at step {end}, where the previous one "
        "ended): choose pct_start and total_steps so that every phase spans at least one step"
    )


@register_scheduler("onecyclelr", description="1cycle policy: warm up to max_lr, anneal far below", torch_name="OneCycleLR")
class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, "Super-Convergence", 2018), stepped after every batch.

    The learning rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of the ``total_steps`` and then anneals to
    ``max_lr / (div_factor * final_div_factor)``; with ``three_phase`` it first comes back down
    to the initial value symmetrically. Momentum (or ``betas[0]``) moves inversely between
    ``max_momentum`` and ``base_momentum``. See :func:`optimkit.schedules.one_cycle` for the
    formula; ``anneal_strategy`` picks a cosine or a straight line in every phase.

    Differences from torch, all opt-in or where torch fails:

    * ``hold_final_lr=True`` keeps the final values for every step at or past
      ``total_steps`` instead of raising ``ValueError`` past it (pytorch/pytorch#38170);
    * a first phase of zero length (``pct_start * total_steps == 1``) is a ``ValueError`` at
      construction, and stepping into a zero-length last phase a ``ValueError``, where torch
      raises ``ZeroDivisionError``;
    * Tensor ``betas`` (and Tensor learning rates) are updated in place, so a compiled
      ``optimizer.step`` does not recompile.

    The state dict is plain data (``torch.load(weights_only=True)`` works); torch's, including
    its legacy form with ``anneal_func`` instead of ``_anneal_func_type``, loads.

    Args:
        optimizer (Optimizer): the optimizer.
        max_lr (float or list): the peak learning rate, or one per group.
        total_steps (int, optional): the length of the cycle; or give ``epochs`` and
            ``steps_per_epoch``.
        epochs (int, optional): the number of epochs (with ``steps_per_epoch``).
        steps_per_epoch (int, optional): the steps per epoch (with ``epochs``).
        pct_start (float): the fraction of the cycle spent increasing the lr (default: 0.3).
        anneal_strategy (str): ``"cos"`` or ``"linear"`` (default: ``"cos"``).
        cycle_momentum (bool): cycle the momentum inversely (default: True); only then must the
            optimizer have ``momentum`` or ``betas``.
        base_momentum (float or list): the momentum at the peak lr (default: 0.85).
        max_momentum (float or list): the momentum at the ends (default: 0.95).
        div_factor (float): initial lr = ``max_lr / div_factor`` (default: 25).
        final_div_factor (float): final lr = initial lr / ``final_div_factor`` (default: 1e4).
        three_phase (bool): use the three-phase variant (default: False).
        last_epoch (int): index of the last batch (default: -1, start afresh).
        hold_final_lr (bool, keyword-only): hold the final values past ``total_steps``
            (default: False, torch's ``ValueError``).

    Example:
        >>> import torch
        >>> from optimkit.optim import Adam
        >>> from optimkit.optim.lr_scheduler import OneCycleLR
        >>> opt = Adam([torch.nn.Parameter(torch.zeros(1))])
        >>> sched = OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="linear",
        ...                    hold_final_lr=True)
        >>> [round(sched.lr_at(t)[0], 4) for t in (0, 2, 9, 50)]
        [0.04, 1.0, 0.0, 0.0]
        >>> opt.param_groups[0]["betas"][0]
        0.95
    """

    # torch < 2.2 saved the annealing function itself as ``anneal_func``.
    _legacy_state: ClassVar[frozenset[str]] = LRScheduler._legacy_state | {"anneal_func"}
    _optional_state: ClassVar[frozenset[str]] = LRScheduler._optional_state | {"_anneal_func_type", "hold_final_lr"}

    def __init__(
        self, optimizer: _TorchOptimizer, max_lr: float | list[float], total_steps: int | None = None,
        epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos", cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85, max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1,
        *, hold_final_lr: bool = False,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.total_steps = _cycle_length(total_steps, epochs, steps_per_epoch)
        ends = _sched.one_cycle_phase_ends(self.total_steps, pct_start, three_phase)
        # torch's layout of the phases (the group keys each one ramps between): state dicts match.
        self._schedule_phases = [
            dict(zip(_PHASE_KEYS, (end, *points)))
            for end, points in zip(ends, _PHASE_POINTS_3 if three_phase else _PHASE_POINTS_2)
        ]
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._anneal_func_type = anneal_strategy
        if ends[0] == 0:
            # torch divides by this length at the very first step (ZeroDivisionError).
            raise ValueError(
                f"OneCycleLR's first phase has zero length: pct_start * total_steps == 1 "
                f"(pct_start={pct_start}, total_steps={self.total_steps}); "
                "increase pct_start or total_steps"
            )
        self.hold_final_lr = hold_final_lr
        peaks = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, peak in zip(optimizer.param_groups, peaks):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key_check(optimizer)
            highs = _per_group("max_momentum", optimizer, max_momentum)
            lows = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                _start_momentum_cycle(optimizer, self.use_beta1, lows, highs)
        super().__init__(optimizer, last_epoch)

    # ---- the step path: torch's arithmetic, written out here --------------------------------

    @staticmethod
    def _annealing_cos(start: Any, end: Any, pct: float) -> Any:
        """Half-cosine ramp from ``start`` (``pct == 0``) to ``end`` (``pct == 1``)."""
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    @staticmethod
    def _annealing_linear(start: Any, end: Any, pct: float) -> Any:
        """Straight ramp from ``start`` (``pct == 0``) to ``end`` (``pct == 1``)."""
        return (end - start) * pct + start

    def _anneal_func(self, start: Any, end: Any, pct: float) -> Any:
        """The ramp of ``anneal_strategy`` (or of a legacy state dict's ``anneal_func``) at
        ``pct``: torch's method, which a subclass may override (``_next_lrs`` then calls it)."""
        return self._strategy_ramp()(start, end, pct)

    def _strategy_ramp(self) -> Callable[[Any, Any, float], Any]:
        """The function behind :meth:`_anneal_func`, a function of ``(start, end, pct)``: the
        step looks it up once, rather than dispatching once per value."""
        kind = getattr(self, "_anneal_func_type", None)
        if kind == "cos":
            return self._annealing_cos
        if kind == "linear":
            return self._annealing_linear
        if kind is None and hasattr(self, "anneal_func"):
            return self.anneal_func
        raise ValueError(f"Unknown _anneal_func_type: {kind}")

    def _clamped(self, step: float) -> float:
        """``step``, held at the last one with ``hold_final_lr``; past the end torch's error."""
        if step < self.total_steps:  # (the common case, first: nothing to hold or reject)
            return step
        if getattr(self, "hold_final_lr", False):
            return self.total_steps - 1
        if step > self.total_steps:
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        return step

    def _phase_of(self, step: float) -> tuple[dict[str, Any], float]:
        """The phase ``step`` falls in (the last one also takes every later step) and the
        fraction of it that is done."""
        phases = self._schedule_phases
        last = len(phases) - 1
        begin = 0.0
        for index, phase in enumerate(phases):
            end = phase["end_step"]
            if step <= end or index == last:
                break
            begin = end
        else:
            raise IndexError("OneCycleLR has no phases")  # (an empty _schedule_phases)
        if end == begin:
            raise _zero_length_phase(index, end)
        return phase, (step - begin) / (end - begin)

    def get_lr(self) -> list[Number]:
        """The learning rates at ``last_epoch`` (and set the momenta); closed form, as in torch."""
        _warn_unless_in_step(self)
        return self._next_lrs()

    def _next_lrs(self) -> list[Number]:
        # The rule, shared by get_lr and the fast step path. The momenta are written here, as
        # torch's get_lr does, before the caller writes the learning rates.
        phase, pct = self._phase_of(self._clamped(self.last_epoch))
        own = type(self)._anneal_func is OneCycleLR._anneal_func  # else a subclass's ramp: called as is
        anneal = self._strategy_ramp() if own else self._anneal_func
        groups = self.optimizer.param_groups
        lr_start, lr_end = phase["start_lr"], phase["end_lr"]
        m_start, m_end = phase["start_momentum"], phase["end_momentum"]
        cycle_momentum = self.cycle_momentum
        use_beta1 = self.use_beta1 if cycle_momentum else False  # (set only with cycle_momentum)
        lrs: list[Number] = []
        for group in groups:  # as torch: each group's lr, then its momentum, written at once
            lrs.append(anneal(group[lr_start], group[lr_end], pct))
            if cycle_momentum:
                _write_momentum(group, anneal(group[m_start], group[m_end], pct), use_beta1)
        return lrs

    def _step_fast(self) -> None:
        # A legacy state's ``anneal_func`` is the user's code, which may look at the scheduler
        # while it runs (torch calls it inside get_lr, flagged as called by step): the general
        # path.
        if getattr(self, "_anneal_func_type", None) is None:
            self._step_with_get_lr()
        else:
            self._store_lrs(self._next_lrs())

    # ---- the closed form: optimkit.schedules.phased_value -----------------------------------

    def _pure_anneal(self) -> Callable[[float, float, float], float]:
        kind = getattr(self, "_anneal_func_type", None)
        if kind in ("cos", "linear"):
            return _sched.anneal_cos if kind == "cos" else _sched.anneal_linear
        return self.anneal_func

    def _closed_form(self, step: float, start_key: str, end_key: str) -> list[Any]:
        step = self._clamped(step)
        phases = self._schedule_phases
        ends = [phase["end_step"] for phase in phases]
        anneal = self._pure_anneal()
        return [
            _sched.phased_value(step, ends, [(group[p[start_key]], group[p[end_key]]) for p in phases], anneal)
            for group in self.optimizer.param_groups
        ]

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the learning rates at ``step``."""
        return self._closed_form(step, "start_lr", "end_lr")

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form: the momenta at ``step`` (``None`` without ``cycle_momentum``)."""
        return self._closed_form(step, "start_momentum", "end_momentum") if self.cycle_momentum else None

    # ---- state ------------------------------------------------------------------------------

    def _check_state(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        state = super()._check_state(state_dict)
        error = _StateError(self)
        if "_anneal_func_type" in state:
            if state["_anneal_func_type"] not in ("cos", "linear"):
                raise error.value("_anneal_func_type", f"must be 'cos' or 'linear', got {state['_anneal_func_type']!r}")
        elif "anneal_func" in state:
            if not callable(state["anneal_func"]):
                raise error.kind("anneal_func", "function", state["anneal_func"])
        elif hasattr(self, "_anneal_func_type"):
            raise error.keys(self, ["_anneal_func_type"], [])
        for i, phase in enumerate(state["_schedule_phases"]):
            if not isinstance(phase, Mapping) or any(key not in phase for key in _PHASE_KEYS):
                raise error.value(f"_schedule_phases[{i}]", f"must be a dict with the keys {list(_PHASE_KEYS)}")
        return state

    def _apply_state(self, state: dict[str, Any]) -> None:
        legacy = state.pop("anneal_func", None)
        super()._apply_state(state)
        if legacy is None or "_anneal_func_type" in state:
            return
        # A legacy state dict: its function was one of torch's two ramps (or a user's own).
        kind = {"_annealing_cos": "cos", "_annealing_linear": "linear"}.get(getattr(legacy, "__name__", ""))
        if kind is not None:
            self._anneal_func_type = kind
            self.__dict__.pop("anneal_func", None)
        else:
            self.__dict__.pop("_anneal_func_type", None)
            self.anneal_func = legacy
