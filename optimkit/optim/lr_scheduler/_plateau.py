""":class:`ReduceLROnPlateau`: a plateau detector (mode, threshold, best value, bad-step count,
cooldown) and the scheduler that lowers the learning rates when it fires."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, SupportsFloat

import torch

from ...registry import register_scheduler
from ._base import (
    EPOCH_DEPRECATION_WARNING,
    LRScheduler,
    _check_optimizer,
    _group_values,
    _set_group_value,
    _StateError,
    _TorchOptimizer,
    _value_kind,
)


@dataclass
class _PlateauDetector:
    """Watches one metric, value after value, and says when it has stopped improving.

    A value improves on the best one seen when it is better by more than ``threshold`` (relative
    to the best with ``threshold_mode="rel"``, absolute with ``"abs"``) in the direction of
    ``mode``. More than ``patience`` values in a row without improvement make a plateau; after
    one, ``cooldown`` values are not counted.
    """

    mode: str
    threshold: float
    threshold_mode: str
    patience: int
    cooldown: int
    best: float = math.nan
    num_bad_epochs: int = 0
    cooldown_counter: int = 0

    def __post_init__(self) -> None:
        self.check_modes(self.mode, self.threshold_mode)
        self.forget()

    @staticmethod
    def check_modes(mode: str, threshold_mode: str) -> None:
        """torch's checks and messages for the two mode arguments."""
        # Sets, as torch's: an unhashable mode fails with torch's TypeError.
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")

    @property
    def worst(self) -> float:
        """The value every real metric improves on: +inf when minimizing, -inf when maximizing."""
        return math.inf if self.mode == "min" else -math.inf

    def forget(self) -> None:
        """Start over: no best value yet, no bad values counted, no cooldown."""
        self.best = self.worst
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best value by more than the threshold."""
        maximizing = self.mode == "max"
        if self.threshold_mode == "rel":
            scale = 1.0 + self.threshold if maximizing else 1.0 - self.threshold
            bar = self.best * scale
        else:
            bar = self.best + self.threshold if maximizing else self.best - self.threshold
        return value > bar if maximizing else value < bar

    def observe(self, value: float) -> bool:
        """Take one value; ``True`` when the plateau has lasted longer than ``patience``."""
        improved = self.improves(value)
        if improved:
            self.best = value
        self.num_bad_epochs = 0 if improved else self.num_bad_epochs + 1
        if self.cooldown_counter > 0:
            # Values seen during a cooldown never count towards the next plateau.
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        return self.num_bad_epochs > self.patience

    def start_cooldown(self) -> None:
        """Called once the learning rate was reduced: count afresh after ``cooldown`` values."""
        self.cooldown_counter = self.cooldown
        self.num_bad_epochs = 0


class _Detector:
    """An attribute of the scheduler that lives on its plateau detector (``best``,
    ``num_bad_epochs``, ...): torch's attribute names stay readable and writable."""

    name: str

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj._plateau, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj._plateau, self.name, value)


# The keys of torch's ReduceLROnPlateau state dict (its __dict__ but the optimizer), in its order:
# the checkpoint format both classes read and write.
_PLATEAU_OWN_KEYS = ("factor", "default_min_lr", "min_lrs", "patience", "cooldown", "eps", "last_epoch", "_last_lr")
_PLATEAU_DETECTOR_KEYS = ("mode", "threshold", "threshold_mode", "best", "cooldown_counter", "num_bad_epochs")


@register_scheduler("reducelronplateau", description="reduce the lr when a metric stops improving", torch_name="ReduceLROnPlateau")
# Also a subclass of torch's class: trainers pick the plateau scheduler by `isinstance` to step it
# with a metric (Lightning, the Hugging Face Trainer), and called step() without one otherwise.
class ReduceLROnPlateau(LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
    r"""Reduce the learning rate when a monitored metric has stopped improving.

    After more than ``patience`` steps without improvement the learning rate of each group becomes
    :math:`\max(\eta \cdot \text{factor}, \eta_{min})` (skipped when the change is not larger than
    ``eps``), followed by ``cooldown`` steps during which bad steps are not counted. A value
    :math:`a` improves on the best :math:`b` when

    .. math::
        a < b(1 - \theta) \;(\text{min, rel}), \quad a < b - \theta \;(\text{min, abs}), \quad
        a > b(1 + \theta) \;(\text{max, rel}), \quad a > b + \theta \;(\text{max, abs}).

    It has no closed form (the learning rate depends on the metrics); it may follow a warmup
    inside :class:`SequentialLR`. The detection state (``best``, ``num_bad_epochs``,
    ``cooldown_counter``, ``mode``, ...) keeps torch's attribute names and state-dict keys.

    Args:
        optimizer (Optimizer): the optimizer.
        mode (str): ``"min"`` (lower is better) or ``"max"`` (default: ``"min"``).
        factor (float): the reduction factor, < 1 (default: 0.1).
        patience (int): bad steps tolerated before reducing (default: 10).
        threshold (float): :math:`\theta`, the margin of a significant improvement (default: 1e-4).
        threshold_mode (str): ``"rel"`` or ``"abs"`` (default: ``"rel"``).
        cooldown (int): steps after a reduction during which bad steps are ignored (default: 0).
        min_lr (float or list): lower bound on the learning rate, or one per group (default: 0).
        eps (float): smallest change of the learning rate that is applied (default: 1e-8).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import ReduceLROnPlateau
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = ReduceLROnPlateau(opt, patience=1, factor=0.5)
        >>> for loss in [1.0, 1.0, 1.0, 1.0]:
        ...     sched.step(loss)
        >>> sched.get_last_lr()
        [0.5]
    """

    mode = _Detector()
    threshold = _Detector()
    threshold_mode = _Detector()
    patience = _Detector()
    cooldown = _Detector()
    best = _Detector()
    num_bad_epochs = _Detector()
    cooldown_counter = _Detector()

    _optional_state: ClassVar[frozenset[str]] = frozenset({"default_min_lr", "_last_lr"})  # torch < 2.2
    _per_group_state: ClassVar[frozenset[str]] = frozenset({"_last_lr"})
    _nullable_state: ClassVar[frozenset[str]] = frozenset({"default_min_lr"})

    def __init__(
        self, optimizer: _TorchOptimizer, mode: Literal["min", "max"] = "min", factor: float = 0.1,
        patience: int = 10, threshold: float = 1e-4, threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0, min_lr: list[float] | float = 0, eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.factor = factor
        self.default_min_lr, self.min_lrs = self._floors_from(min_lr)
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _group_values(optimizer, "lr")
        self._plateau = _PlateauDetector(mode, threshold, threshold_mode, patience, cooldown)

    def _floors_from(self, min_lr: list[float] | float) -> tuple[float | None, list[float]]:
        """``(default_min_lr, min_lrs)``: a scalar is the default for groups added later."""
        count = len(self.optimizer.param_groups)
        if not isinstance(min_lr, (list, tuple)):
            return min_lr, [min_lr] * count
        if len(min_lr) != count:
            raise ValueError(f"expected {count} min_lrs, got {len(min_lr)}")
        return None, list(min_lr)

    @property
    def mode_worse(self) -> float:
        """The initial ``best``: ``inf`` in ``"min"`` mode, ``-inf`` in ``"max"`` mode."""
        return self._plateau.worst

    @property
    def in_cooldown(self) -> bool:
        """Whether a cooldown is running."""
        return self._plateau.cooldown_counter > 0

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one value of the monitored metric (a number or a 0-dim tensor) and reduce the
        learning rates if it has plateaued."""
        value = float(metrics)
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._plateau.observe(value):
            self._lower_lrs()
            self._plateau.start_cooldown()
        self._last_lr = _group_values(self.optimizer, "lr")

    def _current_floors(self) -> list[float]:
        """``min_lrs``, extended to groups added since construction when a scalar was given
        (pytorch/pytorch#104361); a per-group list cannot be guessed for them."""
        count = len(self.optimizer.param_groups)
        if len(self.min_lrs) != count:
            if self.default_min_lr is None:
                raise RuntimeError(
                    "The number of param groups in the `optimizer` "
                    f"({count}) differs "
                    f"from when `ReduceLROnPlateau` was initialized "
                    f"({len(self.min_lrs)}), usually due to a new "
                    "param group being added to the optimizer. Please "
                    "modify the `min_lrs` field to match the length "
                    "of the `optimizer` param groups."
                )
            self.min_lrs = [self.default_min_lr] * count
        return self.min_lrs

    def _lower_lrs(self) -> None:
        """Multiply every group's lr by ``factor``, not below its floor, skipping changes
        smaller than ``eps``."""
        groups = self.optimizer.param_groups
        for group, floor in zip(groups, self._current_floors()):
            now = float(group["lr"])
            lowered = max(now * self.factor, floor)
            if now - lowered > self.eps:
                _set_group_value(group, "lr", lowered)

    # ---- state: torch's keys --------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The state with torch's keys (so either class loads the other's)."""
        state = {key: getattr(self, key) for key in _PLATEAU_OWN_KEYS}
        state["mode_worse"] = self.mode_worse
        state.update((key, getattr(self._plateau, key)) for key in _PLATEAU_DETECTOR_KEYS)
        return state

    def _check_state(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        state = super()._check_state(state_dict)
        error = _StateError(self)
        for key, allowed in (("mode", ("min", "max")), ("threshold_mode", ("rel", "abs"))):
            if state[key] not in allowed:
                raise error.value(key, f"must be one of {allowed}, got {state[key]!r}")
        default = state.get("default_min_lr", self.default_min_lr)
        floors = state["min_lrs"]
        if not isinstance(floors, (list, tuple)):
            raise error.kind("min_lrs", "list", floors)
        for i, floor in enumerate(floors):
            if _value_kind(floor) != "number":
                raise error.kind(f"min_lrs[{i}]", "number", floor)
        groups = len(self.optimizer.param_groups)
        if default is None and len(floors) != groups:
            raise error.length("min_lrs", len(floors), groups)
        return state

    def _apply_state(self, state: dict[str, Any]) -> None:
        for key in _PLATEAU_OWN_KEYS:
            if key in state:
                setattr(self, key, state[key])
        # ``mode_worse`` follows from ``mode`` (torch recomputes it on loading as well).
        for key in _PLATEAU_DETECTOR_KEYS:
            setattr(self._plateau, key, state[key])
