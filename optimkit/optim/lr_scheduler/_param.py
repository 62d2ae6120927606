""":class:`ParamScheduler`: any hyperparameter of the parameter groups driven by a pure schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ... import schedules as _sched
from ...registry import register_scheduler
from .._validation import argument_problems
from ._base import (
    LRScheduler,
    Number,
    _check_optimizer,
    _detached_copy,
    _Flag,
    _group_values,
    _read_hyper,
    _StateError,
    _TorchOptimizer,
    _track_optimizer_step,
    _warn_unless_in_step,
    _write_hyper,
)


def _initial_key(key: str) -> str:
    return f"initial_{key}"


@register_scheduler("paramscheduler", description="drive any hyperparameter (lr, weight_decay, momentum, betas[0]) from a pure schedule")
class ParamScheduler(LRScheduler):
    r"""Drive one hyperparameter of every parameter group from a pure schedule.

    .. math::
        h_t = \begin{cases} h_0\, f(t) & \text{relative (default)} \\ f(t) & \text{absolute} \end{cases}

    where :math:`h_0` is the group's value when the scheduler was created (kept in the group as
    ``"initial_<key>"``, e.g. ``"initial_lr"``, ``"initial_betas[0]"``). ``key`` is a group entry
    (``"lr"``, ``"weight_decay"``, ``"momentum"``, ...) or an element of a tuple entry such as
    ``"betas[0]"``. Tensor values are updated in place with ``fill_`` (never replaced by floats),
    so a ``torch.compile``\ d ``optimizer.step`` is not recompiled as the schedule moves.

    ``get_last_lr()`` returns the learning rates, as for every scheduler;
    :meth:`get_last_value` returns the last values of ``key``.

    Args:
        optimizer (Optimizer): the optimizer.
        schedule (callable or list): ``step -> value`` (e.g. from :mod:`optimkit.schedules`), or
            one per group.
        key (str): the hyperparameter to drive (default: ``"lr"``).
        relative (bool, keyword-only): multiply the schedule by the initial value (default True);
            ``False`` uses the schedule's values as they are.
        last_epoch (int, keyword-only): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit import schedules
        >>> from optimkit.optim import SGD
        >>> from optimkit.optim.lr_scheduler import ParamScheduler
        >>> opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, weight_decay=1e-2)
        >>> wd = ParamScheduler(opt, schedules.linear(1.0, 0.0, total_steps=4), key="weight_decay")
        >>> for _ in range(2):
        ...     opt.step(); wd.step()
        >>> wd.get_last_value(), wd.get_last_lr()
        ([0.005], [0.1])
    """

    _per_group_state: ClassVar[frozenset[str]] = LRScheduler._per_group_state | {"base_values", "_last_values"}

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        schedule: _sched.Schedule | Sequence[_sched.Schedule],
        key: str = "lr",
        *,
        relative: bool = True,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        problems = argument_problems(ParamScheduler, {"key": key, "relative": relative, "last_epoch": last_epoch})
        if problems:
            raise problems[0].error(f"{type(self).__name__}: {problems[0].message}")
        self.optimizer = optimizer
        self.key = key
        self.relative = relative
        groups = optimizer.param_groups
        if isinstance(schedule, (list, tuple)):
            if len(schedule) != len(groups):
                raise ValueError(f"Expected {len(groups)} schedules, but got {len(schedule)}")
            self.schedules = list(schedule)
        else:
            self.schedules = [schedule] * len(groups)
        for fn in self.schedules:
            if not callable(fn):
                raise TypeError(f"schedule should be a function of the step, but got {type(fn).__name__}")
        init_key = _initial_key(key)
        for i, group in enumerate(groups):
            try:
                current = _read_hyper(group, key)
            except (KeyError, IndexError, TypeError, ValueError):
                raise KeyError(f"param_groups[{i}] has no hyperparameter {key!r} (the key to schedule)") from None
            # A fresh start, or resuming by a step count alone: the current value is the base.
            group.setdefault(init_key, _detached_copy(current))
        self.base_values: list[Number] = _group_values(optimizer, init_key)
        self.base_lrs = _group_values(optimizer, "lr")
        self.last_epoch = last_epoch
        _track_optimizer_step(optimizer)
        self._initial_step()

    def values_at(self, step: int) -> list[Number]:
        """Closed form: the value of ``key`` in every group at ``step``."""
        if self.relative:
            return [base * fn(step) for fn, base in zip(self.schedules, self.base_values)]
        return [fn(step) for fn in self.schedules]

    def lr_at(self, step: int) -> list[Number]:
        """Closed form of the learning rates (the schedule's when ``key == "lr"``)."""
        if self.key == "lr":
            return self.values_at(step)
        return _group_values(self.optimizer, "lr")

    def get_lr(self) -> list[Number]:
        """The learning rates after this step (the schedule's values when ``key == "lr"``)."""
        _warn_unless_in_step(self)
        return self.lr_at(self.last_epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        with _Flag(self, "_get_lr_called_within_step"):
            values = self.values_at(self.last_epoch)
        for group, value in zip(self.optimizer.param_groups, values):
            _write_hyper(group, self.key, value)
        self._last_values = [_detached_copy(_read_hyper(g, self.key)) for g in self.optimizer.param_groups]
        self._last_lr = _group_values(self.optimizer, "lr")

    def get_last_value(self) -> list[Number]:
        """The values of ``key`` set by the latest step, one per group (copies)."""
        return self._last_values

    def state_dict(self) -> dict[str, Any]:
        """The state as plain data; the schedules (functions) are not saved: construct the
        scheduler with the same schedules before loading."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedules")}

    def _check_state(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        state = super()._check_state(state_dict)
        if state["key"] != self.key:
            raise _StateError(self).value("key", f"is {state['key']!r}, but this scheduler drives {self.key!r}")
        return state
