r"""Schedulers built from other schedulers: :class:`SequentialLR` (one after another),
:class:`ChainedScheduler` (a product of relative factors), :class:`ScalePerParamLR` (one
scheduler scaled per parameter group, muP) and :class:`CombinedScheduler` (schedulers of
different hyperparameters stepped together).

The first three only take their children's schedules (pure functions) and combine them with
:func:`optimkit.schedules.join`, :func:`~optimkit.schedules.multiply`,
:func:`~optimkit.schedules.normalized` and :func:`~optimkit.schedules.scaled`, so they alone need
stepping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .... import schedules as _sched
from ....optim.lr_scheduler import ChainedScheduler as _TorchChained
from ._base import LRScheduler, Number, Tags, _check_same_key, _register, _TorchOptimizer


@_register("sequentiallr", "run Cerebras schedulers one after another at milestones")
class SequentialLR(LRScheduler):
    r"""Run several schedulers one after the other; scheduler :math:`i` starts at its own step 0
    at milestone :math:`m_{i-1}`.

    .. math:: \eta_t = S_i(t - m_{i-1}), \quad i = \#\{m_j \le t\}, \quad m_{-1} = 0

    Only this scheduler needs stepping: the children provide their schedules (see
    :func:`optimkit.schedules.join`).

    Args:
        optimizer (Optimizer): the optimizer (the children's).
        schedulers (list): the schedulers, all on ``optimizer`` and driving the same key.
        milestones (list of int): the steps at which the next scheduler takes over.
        last_epoch (int): index of the last step (default: -1).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import SequentialLR, LinearLR, ConstantLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> warm = LinearLR(opt, 0.0, 1.0, total_iters=2)
        >>> s = SequentialLR(opt, [warm, ConstantLR(opt, 0.5)], milestones=[2])
        >>> [s.lr_at(t)[0] for t in range(4)]
        [0.0, 0.5, 0.5, 0.5]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
        param_group_tags: Tags = None,
    ) -> None:
        name = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
        if not isinstance(milestones, (list, tuple)) or any(
            isinstance(m, bool) or not isinstance(m, int) for m in milestones
        ):
            raise TypeError(f"Expected milestones to be a list of integers. Got: {milestones!r}")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number "
                f"of milestone points, but got number of schedulers {len(schedulers)} and the number of "
                f"milestones to be equal to {len(milestones)}"
            )
        _check_same_key(name, self.param_group_key, schedulers)
        for i, sched in enumerate(schedulers):
            if sched.optimizer is not optimizer:
                raise ValueError(
                    f"Sequential Schedulers expects all schedulers to belong to the same optimizer, but got "
                    f"schedulers at index {i} to be different than the optimizer passed in."
                )
        self._schedulers = list(schedulers)
        self.milestones = list(milestones)
        schedule = _sched.join([s.schedule for s in schedulers], milestones)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags, last_epoch=last_epoch)


@_register("chainedscheduler", "the product of several Cerebras schedules")
class ChainedScheduler(LRScheduler):
    r"""Combine several schedulers multiplicatively: the first one's value times each other's
    value relative to its initial value.

    .. math:: \eta_t = S_1(t) \prod_{i > 1} \frac{S_i(t)}{S_i^{(0)}}

    where :math:`S_i^{(0)}` is scheduler :math:`i`'s initial learning rate
    (:attr:`LRScheduler.initial_value`). Only this scheduler needs stepping.

    Args:
        schedulers (list): the schedulers, all on one optimizer and driving the same key.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Raises:
        ValueError: when a scheduler after the first has initial value 0 (the ratio would be
            undefined; Cerebras gives NaN).

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import ChainedScheduler, ConstantLR, StepLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = ChainedScheduler([ConstantLR(opt, 0.1), StepLR(opt, 2.0, step_size=2, gamma=0.5)])
        >>> [s.lr_at(t)[0] for t in range(4)]
        [0.1, 0.1, 0.05, 0.05]
    """

    def __init__(self, schedulers: Sequence[LRScheduler], param_group_tags: Tags = None) -> None:
        name = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler to be chained, but got no scheduler.")
        _check_same_key(name, self.param_group_key, schedulers)
        optimizer = schedulers[0].optimizer
        for i, sched in enumerate(schedulers):
            if sched.optimizer is not optimizer:
                raise ValueError(
                    f"{name} expects all schedulers to belong to the same optimizer, but got schedulers at "
                    f"index 0 and {i} to be different"
                )
        refs = [s.initial_value for s in schedulers[1:]]
        for i, ref in enumerate(refs, start=1):
            if ref == 0:
                raise ValueError(
                    f"{name}: the scheduler at index {i} ({type(schedulers[i]).__name__}) has initial value 0, "
                    "so its relative factor is undefined; put it first in the chain"
                )
        self._schedulers = list(schedulers)
        first = schedulers[0].schedule
        ratios = [_sched.normalized(s.schedule, ref) for s, ref in zip(schedulers[1:], refs)]
        self._initial_value = schedulers[0].initial_value
        schedule = _sched.multiply(first, *ratios) if ratios else first
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


def _adjustment(group: dict[str, Any]) -> float:
    """A group's muP multiplier: ``"adjust_learning_rate"`` (Cerebras' name for the learning rate),
    else ``"adjust_val"`` (the generic name of the weight-decay twins), else 1."""
    return float(group.get("adjust_learning_rate", group.get("adjust_val", 1.0)))


@_register("scaleperparamlr", "scale a scheduler's value per parameter group (muP)")
class ScalePerParamLR(LRScheduler):
    r"""Scale another scheduler's value per parameter group, as muP does for learning rates.

    .. math:: \eta^{(g)}_t = a_g\, S(t)

    where :math:`a_g` is the group's ``"adjust_learning_rate"`` entry (or ``"adjust_val"``; 1 when
    absent), read at construction. Only this scheduler needs stepping.

    Args:
        optimizer (Optimizer): the optimizer (the wrapped scheduler's).
        scheduler (LRScheduler): the wrapped scheduler :math:`S` (any Cerebras scheduler,
            :class:`ChainedScheduler` included).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import ScalePerParamLR, ConstantLR
        >>> p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        >>> opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "adjust_learning_rate": 0.25}], lr=1.0)
        >>> ScalePerParamLR(opt, ConstantLR(opt, 0.1)).lr_at(0)
        [0.1, 0.025]
    """

    def __init__(self, optimizer: _TorchOptimizer, scheduler: LRScheduler, param_group_tags: Tags = None) -> None:
        _check_same_key(type(self).__name__, self.param_group_key, [scheduler])
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{type(self).__name__} expects the wrapped scheduler to belong to the same optimizer")
        self._scheduler = scheduler
        self.adjustment_scalars = [_adjustment(g) for g in optimizer.param_groups]
        self._initial_value = scheduler.initial_value
        base = scheduler.schedule
        per_group = [_sched.scaled(base, a) for a in self.adjustment_scalars]
        super().__init__(optimizer, base, param_group_tags=param_group_tags, per_group=per_group)


class CombinedScheduler(_TorchChained):
    r"""Step schedulers that drive *different* hyperparameters of one optimizer together (e.g. a
    learning-rate scheduler and a weight-decay scheduler), as one object.

    ``step()`` steps each in order; ``get_last_lr()`` and :meth:`lr_at` come from the scheduler
    driving ``"lr"`` (the groups' current learning rates when there is none); :meth:`values_at`
    gives every scheduled hyperparameter's closed form. (Unlike :class:`ChainedScheduler` nothing
    is multiplied: each key has its own scheduler.)

    Args:
        schedulers (sequence): schedulers on one optimizer (each with a ``key`` or
            ``param_group_key``; torch-style schedulers count as ``"lr"``).

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import CombinedScheduler, CosineDecayLR, LinearWD
        >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> both = CombinedScheduler([CosineDecayLR(opt, 1.0, 0.0, 2), LinearWD(opt, 0.1, 0.0, 2)])
        >>> opt.step(); both.step()
        >>> round(both.get_last_lr()[0], 12), opt.param_groups[0]["weight_decay"]
        (0.5, 0.05)
        >>> {k: [round(x, 12) for x in v] for k, v in both.values_at(2).items()}
        {'lr': [0.0], 'weight_decay': [0.0]}
    """

    def __init__(self, schedulers: Sequence[Any]) -> None:
        super().__init__(list(schedulers))

    @staticmethod
    def _key(sched: Any) -> str:
        return getattr(sched, "param_group_key", None) or getattr(sched, "key", "lr")

    def lr_at(self, step: int) -> list[Number]:
        """Closed form of the learning rates: the ``"lr"`` scheduler's."""
        for sched in self._schedulers:
            if self._key(sched) == "lr":
                return sched.lr_at(step)
        return [g["lr"] for g in self.optimizer.param_groups]

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form of the momenta: the first child's that schedules them (a torch-style
        :class:`~optimkit.optim.lr_scheduler.OneCycleLR`), else ``None``."""
        for sched in self._schedulers:
            momentum_at = getattr(sched, "momentum_at", None)
            momenta = None if momentum_at is None else momentum_at(step)
            if momenta is not None:
                return momenta
        return None

    def values_at(self, step: int) -> dict[str, list[Number]]:
        """Closed form at ``step`` of every scheduled hyperparameter, by key."""
        out: dict[str, list[Number]] = {}
        for sched in self._schedulers:
            key = self._key(sched)
            out[key] = sched.values_at(step) if hasattr(sched, "values_at") else sched.lr_at(step)
        return out
