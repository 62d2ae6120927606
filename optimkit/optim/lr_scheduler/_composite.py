"""Schedulers made of schedulers: :class:`SequentialLR` (one after the other) and
:class:`ChainedScheduler` (all at once)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

from ... import schedules as _sched
from ...registry import register_scheduler
from ._base import LRScheduler, Number, _group_values, _set_group_value, _StateError, _TorchOptimizer
from ._plateau import ReduceLROnPlateau


def _check_children(owner: str, optimizer: Any, schedulers: Sequence[Any], *, allow_plateau: bool) -> None:
    """torch's checks of the child schedulers, in torch's order and with its messages."""
    for i, sched in enumerate(schedulers):
        if not hasattr(sched, "optimizer"):
            raise TypeError(f"{owner} at index {i} should have `optimizer` as its attribute.")
        if isinstance(sched, ReduceLROnPlateau) and not allow_plateau:
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it "
                "requires additional kwargs to be specified when calling `step`, "
                f"but got one at index {i} in the given schedulers sequence."
            )
        if optimizer != sched.optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but "
                f"got scheduler {sched.__class__.__name__} at index {i} has {sched.optimizer}, "
                f"which is different from {optimizer.__class__.__name__}."
            )


def _loads_in_two_steps(sched: Any) -> bool:
    """Whether ``sched`` loads through this module's check-then-apply protocol, so that a
    composite can check every child's state before loading any (a subclass with its own
    ``load_state_dict``, or one of torch's schedulers, is simply asked to load)."""
    return isinstance(sched, LRScheduler) and type(sched).load_state_dict is LRScheduler.load_state_dict


class _CompositeStateMixin:
    """State of a scheduler made of ``_schedulers``: each child's state dict under
    ``"_schedulers"``; all of them are checked before any is loaded."""

    _schedulers: Sequence[Any]

    def state_dict(self) -> dict[str, Any]:
        """The state, with each child's state dict under ``_schedulers``."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        out["_schedulers"] = [child.state_dict() for child in self._schedulers]
        return out

    def _check_state(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        state = super()._check_state(state_dict)  # type: ignore[misc]
        saved = state["_schedulers"]
        if len(saved) != len(self._schedulers):
            raise _StateError(self).length("_schedulers", len(saved), len(self._schedulers), "child schedulers")
        state["_schedulers"] = [
            child._check_state(child_state) if _loads_in_two_steps(child) else child_state
            for child, child_state in zip(self._schedulers, saved)
        ]
        return state

    def _apply_state(self, state: dict[str, Any]) -> None:
        children = state.pop("_schedulers")
        super()._apply_state(state)  # type: ignore[misc]
        for child, child_state in zip(self._schedulers, children):
            if _loads_in_two_steps(child):
                child._apply_state(child_state)
            else:
                child.load_state_dict(child_state)


@register_scheduler("sequentiallr", description="run schedulers one after another at milestones", torch_name="SequentialLR")
class SequentialLR(_CompositeStateMixin, LRScheduler):
    r"""Run several schedulers one after the other, switching at the milestones.

    .. math:: \eta_t = S_i(t - m_{i-1}), \quad i = \#\{m_j \le t\}, \quad m_{-1} = 0

    Each scheduler restarts at its milestone from the base learning rates (through its closed
    form where torch's has one). Unlike torch, a :class:`ReduceLROnPlateau` may be one of the
    schedulers, e.g. after a warmup (pytorch/pytorch#68978): pass the metric to
    ``step(metrics)``; it is forwarded while the plateau scheduler is active (and ignored before),
    and the plateau scheduler starts from the base learning rates at its milestone.

    Args:
        optimizer (Optimizer): the optimizer.
        schedulers (list): the schedulers, all on ``optimizer``.
        milestones (list of int): the steps at which the next scheduler takes over.
        last_epoch (int): index of the last step (default: -1).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import SequentialLR, LinearLR, ExponentialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> warm = LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> decay = ExponentialLR(opt, gamma=0.5)
        >>> sched = SequentialLR(opt, [warm, decay], milestones=[2])
        >>> [sched.lr_at(t)[0] for t in range(5)]
        [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: _TorchOptimizer, schedulers: list[LRScheduler], milestones: list[int], last_epoch: int = -1
    ) -> None:
        name = type(self).__name__
        if not schedulers:
            raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
        _check_children(name, optimizer, schedulers, allow_plateau=True)
        if len(schedulers) - 1 != len(milestones):
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers {len(schedulers)} and the "
                f"number of milestones to be equal to {len(milestones)}"
            )
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self._start_first_child()

    def _start_first_child(self) -> None:
        """Put the groups back at their base lr, take back the step each child's constructor
        took, and let only the child active at step 0 take it again."""
        self._restore_base_lrs()
        self.recursive_undo()
        first = self._schedulers[self._active_index(0)]
        if isinstance(first, ReduceLROnPlateau):
            first._last_lr = _group_values(self.optimizer, "lr")  # it has no initial step
        else:
            first._initial_step()
        self._last_lr = first.get_last_lr()

    def _restore_base_lrs(self) -> None:
        for group in self.optimizer.param_groups:
            _set_group_value(group, "lr", group["initial_lr"])

    def _active_index(self, step: int) -> int:
        return bisect_right(self._milestones, step)

    def recursive_undo(self, sched: Any = None) -> None:
        """Step every (nested) child back by one, undoing the step its constructor took."""
        target = self if sched is None else sched
        if hasattr(target, "_schedulers"):
            for child in target._schedulers:
                self.recursive_undo(child)
        elif not isinstance(target, ReduceLROnPlateau) and hasattr(target, "last_epoch"):
            target.last_epoch -= 1  # (the plateau scheduler's constructor takes no step)

    def step(self, metrics: SupportsFloat | None = None) -> None:  # type: ignore[override]
        """Advance by one step; ``metrics`` goes to an active :class:`ReduceLROnPlateau`."""
        self.last_epoch += 1
        idx = self._active_index(self.last_epoch)
        child = self._schedulers[idx]
        at_milestone = idx > 0 and self._milestones[idx - 1] == self.last_epoch
        if isinstance(child, ReduceLROnPlateau):
            if metrics is None:
                raise ValueError(
                    f"{type(self).__name__}: the active scheduler (index {idx}) is ReduceLROnPlateau; "
                    "pass the monitored value as step(metrics)"
                )
            if at_milestone:
                self._restore_base_lrs()
            child.step(metrics)
        elif at_milestone:
            child._update_lr(0)  # restart it: its step 0, through its closed form when it has one
        else:
            child.step()
        self._last_lr = child.get_last_lr()

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the closed form of the scheduler active at ``step``, at its own step."""
        idx = self._active_index(step)
        offset = self._milestones[idx - 1] if idx else 0
        return self._schedulers[idx].lr_at(step - offset)

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form: the momenta of the scheduler active at ``step``, at its own step."""
        idx = self._active_index(step)
        offset = self._milestones[idx - 1] if idx else 0
        return self._schedulers[idx].momentum_at(step - offset)


@register_scheduler("chainedscheduler", description="step several schedulers together", torch_name="ChainedScheduler")
class ChainedScheduler(_CompositeStateMixin, LRScheduler):
    r"""Step several schedulers at once; their recursive rules compose.

    For schedulers whose recursive rule multiplies the current lr by a factor (all but
    :class:`LambdaLR`, :class:`CyclicLR`, :class:`OneCycleLR`, :class:`CosineAnnealingWarmRestarts`
    and :class:`ParamScheduler`, which set the lr from the base, :class:`SequentialLR`,
    :class:`ReduceLROnPlateau`, and :class:`CosineAnnealingLR` with a nonzero ``eta_min``) the
    chain's closed form is the product of the factors:

    .. math:: \eta_t = \eta_0 \prod_i f_i(t)

    (A :class:`CosineAnnealingLR` that runs past ``T_max`` breaks the product at its restart
    step, where torch's rule adds instead of multiplying.)

    Args:
        schedulers (sequence): the schedulers, all on one optimizer.
        optimizer (Optimizer, optional): that optimizer (default: the first scheduler's).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import ChainedScheduler, ConstantLR, ExponentialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> chain = ChainedScheduler([ConstantLR(opt, factor=0.5, total_iters=2),
        ...                           ExponentialLR(opt, gamma=0.5)])
        >>> [chain.lr_at(t)[0] for t in range(4)]
        [0.5, 0.25, 0.25, 0.125]
    """

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: _TorchOptimizer | None = None) -> None:
        name = type(self).__name__
        if not schedulers:
            raise ValueError(f"{name} expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_children(name, optimizer, schedulers, allow_plateau=False)
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._note_last_lr()

    def _note_last_lr(self) -> None:
        # The lrs of the last child's optimizer (torch's choice; all children share it anyway).
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:  # type: ignore[override]
        """Step every scheduler, in order."""
        for child in self._schedulers:
            child.step()
        self._note_last_lr()

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the base learning rates times the product of the children's factors.

        Raises:
            NotImplementedError: when a child's closed form is not a factor of the base lr.
        """
        per_child = []
        for sched in self._schedulers:
            factors = sched._factor_schedules() if hasattr(sched, "_factor_schedules") else None
            if factors is None:
                raise NotImplementedError(f"{type(sched).__name__} has no multiplicative closed form to chain")
            per_child.append(factors)
        bases = self._schedulers[0].base_lrs
        return [base * _sched.multiply(*fs)(step) for base, fs in zip(bases, zip(*per_child))]

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form: the momenta set by the last child that schedules momentum (it writes
        them last at every step), or ``None`` when none does."""
        for sched in reversed(self._schedulers):
            momenta = sched.momentum_at(step)
            if momenta is not None:
                return momenta
        return None
