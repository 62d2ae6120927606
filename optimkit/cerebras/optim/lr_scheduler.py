r"""The Cerebras schedulers (``cerebras.pytorch.optim.lr_scheduler``), with Cerebras' signatures,
as thin classes over the pure schedules of :mod:`optimkit.schedules`.

Cerebras schedulers differ from torch's in one way that shapes everything here: they are
**absolute**. A scheduler is given its values (``initial_learning_rate``, ``end_learning_rate``,
...) and ignores the learning rate the optimizer was built with; every parameter group gets the
same value (:class:`ScalePerParamLR` then multiplies it per group, as for muP). Each class is
therefore a :class:`~optimkit.optim.lr_scheduler.ParamScheduler` with ``relative=False`` driving one
hyperparameter, and its formula is one function from :mod:`optimkit.schedules`, evaluated in
float64 (Python floats) at ``last_epoch``:

==============================  ==================================================================
class                           value at step :math:`t`
==============================  ==================================================================
ConstantLR                      :math:`\eta`
PolynomialLR / LinearLR         :func:`~optimkit.schedules.polynomial_decay`
ExponentialLR                   :func:`~optimkit.schedules.exponential_decay`
InverseExponentialTimeDecayLR   :func:`~optimkit.schedules.inverse_time_decay`
InverseSquareRootDecayLR        :func:`~optimkit.schedules.inverse_square_root`
CosineDecayLR                   :func:`~optimkit.schedules.cosine` (held at the end)
CosineAnnealingLR               :func:`~optimkit.schedules.cosine` (periodic)
CosineAnnealingWarmRestarts     :func:`~optimkit.schedules.cosine_warm_restarts`
PiecewiseConstantLR             :func:`~optimkit.schedules.piecewise_constant`
StepLR / MultiStepLR            :math:`\eta_0` times :func:`~optimkit.schedules.step` /
                                :func:`~optimkit.schedules.multistep`
MultiplicativeLR                :math:`\eta_0` times :func:`~optimkit.schedules.exponential`
LambdaLR                        :math:`\eta_0` times the user's function
CyclicLR                        :func:`~optimkit.schedules.cyclic`
OneCycleLR                      :func:`~optimkit.schedules.one_cycle`
SequentialLR                    :func:`~optimkit.schedules.join` of the children
ChainedScheduler                product of the children, each but the first divided by its
                                initial value
ScalePerParamLR                 the wrapped schedule times ``group["adjust_learning_rate"]``
==============================  ==================================================================

**Weight-decay twins.** Every class has a ``*WD`` twin (``CosineDecayWD``, ``StepWD``,
``ChainedWD``, ...) that drives ``group["weight_decay"]`` with the same schedule. The twins are
generated from the LR classes (no formula is written twice); their arguments carry Cerebras'
generic names (``initial_val``, ``end_val``, ``val``, ``vals``, ``base_val``, ``max_val``).

Both families are registered in the scheduler registry under the ``"cerebras"`` namespace
(``optimkit.registry.get_scheduler("CosineDecayLR", namespace="cerebras")``), beside torch's
classes of the same names.

Example:
    >>> import torch
    >>> from optimkit.optim import SGD
    >>> from optimkit.cerebras.optim.lr_scheduler import CosineDecayLR, LinearWD
    >>> opt = SGD([torch.nn.Parameter(torch.zeros(2))], lr=1.0, weight_decay=0.1)
    >>> lr = CosineDecayLR(opt, initial_learning_rate=0.1, end_learning_rate=0.0, total_iters=4)
    >>> wd = LinearWD(opt, initial_val=0.1, end_val=0.0, total_iters=4)
    >>> for _ in range(2):
    ...     opt.step(); lr.step(); wd.step()
    >>> round(opt.param_groups[0]["lr"], 12), opt.param_groups[0]["weight_decay"]
    (0.05, 0.05)
    >>> [round(v, 12) for v in (lr.lr_at(1)[0], lr.lr_at(4)[0])]
    [0.085355339059, 0.0]
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch

from ... import schedules as _sched
from ...optim.lr_scheduler import ChainedScheduler as _TorchChained
from ...optim.lr_scheduler import Number, ParamScheduler, _check_optimizer, _read_hyper
from ...registry import register_scheduler

__all__ = [
    "LRScheduler",
    "WDScheduler",
    "ConstantLR",
    "PolynomialLR",
    "LinearLR",
    "ExponentialLR",
    "InverseExponentialTimeDecayLR",
    "InverseSquareRootDecayLR",
    "CosineDecayLR",
    "SequentialLR",
    "PiecewiseConstantLR",
    "MultiStepLR",
    "StepLR",
    "CosineAnnealingLR",
    "LambdaLR",
    "CosineAnnealingWarmRestarts",
    "MultiplicativeLR",
    "ChainedScheduler",
    "ChainedLR",
    "CyclicLR",
    "OneCycleLR",
    "ScalePerParamLR",
    "CombinedScheduler",
    "LR_SCHEDULERS",
    "WD_SCHEDULERS",
]

_TorchOptimizer = torch.optim.Optimizer
Tags = str | Iterable[str] | None


def _register(name: str, description: str) -> Callable[[type], type]:
    return register_scheduler(name, description=description, namespace="cerebras")


def _tag_set(param_group_tags: Tags) -> set[str] | None:
    """Cerebras' ``param_group_tags``: ``None`` (every group), one tag, or a collection of tags."""
    if param_group_tags is None:
        return None
    if isinstance(param_group_tags, str):
        return {param_group_tags}
    tags = list(param_group_tags)
    if len(set(tags)) != len(tags):
        raise ValueError(f"`param_group_tags` contains duplicate values. Tag list: {tags}.")
    return set(tags)


def _applies(tags: set[str] | None, group: dict[str, Any]) -> bool:
    if tags is None:
        return True
    group_tags = group.get("tags")
    if not group_tags:
        return False
    if isinstance(group_tags, str):
        group_tags = {group_tags}
    return bool(tags.intersection(group_tags))


def _holder(group: dict[str, Any], key: str) -> _sched.Schedule:
    """The 'schedule' of a group the scheduler does not apply to: whatever value it holds."""
    return lambda t: _read_hyper(group, key)


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


class LRScheduler(ParamScheduler):
    r"""Base of the Cerebras schedulers: one pure schedule :math:`f` sets one hyperparameter
    (``param_group_key``, ``"lr"`` here, ``"weight_decay"`` for the ``*WD`` twins) of every
    selected parameter group to :math:`f(t)` at step :math:`t` (absolute, not relative to the
    optimizer's value).

    Subclasses pass their schedule to ``__init__``; :meth:`lr_at` / :meth:`values_at` give the
    closed form at any step, ``get_last_lr()`` / ``get_last_value()`` the values of the latest
    step. As with torch's schedulers, construction performs the first step (step 0).

    Args:
        optimizer (Optimizer): any torch or optimkit optimizer.
        schedule (callable): ``step -> value`` (float64).
        param_group_tags (str or list of str, keyword-only): apply only to groups whose
            ``"tags"`` entry shares a tag with these (default: every group).
        per_group (list of callables, keyword-only): one schedule per group instead (used by
            :class:`ScalePerParamLR`).
        last_epoch (int, keyword-only): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit import schedules
        >>> from optimkit.cerebras.optim.lr_scheduler import LRScheduler
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = LRScheduler(opt, schedules.linear(0.0, 0.5, total_steps=2))
        >>> [sched.lr_at(t)[0] for t in range(3)], sched.get_last_lr()
        ([0.0, 0.25, 0.5], [0.0])
    """

    param_group_key: ClassVar[str] = "lr"
    # Attributes that hold functions or other schedulers: not part of the plain-data state.
    _unsaved: ClassVar[tuple[str, ...]] = ("optimizer", "schedules", "schedule", "_schedulers", "_scheduler", "_lambdas")

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        schedule: _sched.Schedule,
        *,
        param_group_tags: Tags = None,
        per_group: Sequence[_sched.Schedule] | None = None,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        if not callable(schedule):
            raise TypeError(f"schedule should be a function of the step, but got {type(schedule).__name__}")
        self.schedule = schedule
        self.param_group_tags = _tag_set(param_group_tags)
        key = self.param_group_key
        groups = optimizer.param_groups
        applies = [_applies(self.param_group_tags, g) for g in groups]
        if not any(applies):
            available = sorted({t for g in groups for t in ([g["tags"]] if isinstance(g.get("tags"), str) else g.get("tags", ()))})
            raise ValueError(
                f"Scheduler {type(self).__name__} was created with `param_group_tags` "
                f"{sorted(self.param_group_tags or ())} but none of them were applied to any params groups "
                f"in the optimizer. Available tags: {available}."
            )
        chosen = list(per_group) if per_group is not None else [schedule] * len(groups)
        per = [fn if ok else _holder(g, key) for fn, ok, g in zip(chosen, applies, groups)]
        super().__init__(optimizer, per, key=key, relative=False, last_epoch=last_epoch)

    @property
    def initial_value(self) -> float:
        """The value the schedule is proportional to (its initial learning rate; what
        :class:`ChainedScheduler` divides by). Classes without such an argument use
        ``schedule(0)``."""
        reference = getattr(self, "_initial_value", None)
        return self.schedule(0) if reference is None else reference

    def get_last_value(self) -> list[Number]:
        """The values of ``param_group_key`` set by the latest step, one per group."""
        return self._last_values

    def state_dict(self) -> dict[str, Any]:
        """The state as plain data (no optimizer, no functions, no child schedulers): the closed
        form only depends on ``last_epoch``, so construct the scheduler with the same arguments
        and load this to resume."""
        return {k: v for k, v in self.__dict__.items() if k not in self._unsaved}


class WDScheduler(LRScheduler):
    """Base of the weight-decay twins: an :class:`LRScheduler` whose key is ``"weight_decay"``."""

    param_group_key: ClassVar[str] = "weight_decay"


def _check_same_key(owner: str, key: str, schedulers: Sequence[Any]) -> None:
    for i, sched in enumerate(schedulers):
        if not isinstance(sched, LRScheduler):
            raise TypeError(f"{owner} expects Cerebras schedulers, but got {type(sched).__name__} at index {i}")
        if sched.param_group_key != key:
            raise ValueError(
                f"{owner} expects all schedulers to have the same `param_group_key` ({key!r}), but the "
                f"scheduler at index {i} drives {sched.param_group_key!r}"
            )


# --------------------------------------------------------------------------------------------
# The schedulers
# --------------------------------------------------------------------------------------------


@_register("constantlr", "a constant learning rate")
class ConstantLR(LRScheduler):
    r"""A constant learning rate in every parameter group.

    .. math:: \eta_t = \eta

    Args:
        optimizer (Optimizer): the optimizer.
        learning_rate (float): :math:`\eta`.
        total_iters (int, optional): how long the value is meant to last; only used by
            :func:`~optimkit.cerebras.configure_lr_scheduler` to place milestones.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import ConstantLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> ConstantLR(opt, learning_rate=0.5).lr_at(100)
        [0.5]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        learning_rate: float,
        total_iters: int | None = None,
        param_group_tags: Tags = None,
    ) -> None:
        self.learning_rate = learning_rate
        self.total_iters = total_iters
        self._initial_value = learning_rate
        super().__init__(optimizer, _sched.constant(learning_rate), param_group_tags=param_group_tags)


@_register("polynomiallr", "polynomial decay from an initial to an end learning rate (Keras PolynomialDecay)")
class PolynomialLR(LRScheduler):
    r"""Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate`` over
    ``total_iters`` steps (Keras' ``PolynomialDecay``).

    .. math::
        \eta_t = (\eta_0 - \eta_1)\Bigl(1 - \frac{\tau}{D}\Bigr)^{p} + \eta_1

    with :math:`\tau = \min(t, T)`, :math:`D = T`, or with ``cycle``
    :math:`\tau = t`, :math:`D = T\max(1, \lceil t/T \rceil)` (the period grows to the next multiple
    of :math:`T`). See :func:`optimkit.schedules.polynomial_decay`.

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        end_learning_rate (float): :math:`\eta_1`.
        total_iters (int): :math:`T`.
        power (float): :math:`p` (default: 1.0).
        cycle (bool): restart the decay with a longer period after :math:`T` (default: False).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import PolynomialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = PolynomialLR(opt, 1.0, 0.0, total_iters=4, power=2.0)
        >>> [s.lr_at(t)[0] for t in range(6)]
        [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        end_learning_rate: float,
        total_iters: int,
        power: float = 1.0,
        cycle: bool = False,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.end_learning_rate = end_learning_rate
        self.total_iters = total_iters
        self.power = power
        self.cycle = cycle
        self._initial_value = initial_learning_rate
        schedule = _sched.polynomial_decay(initial_learning_rate, end_learning_rate, total_iters, power, cycle)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("linearlr", "linear ramp from an initial to an end learning rate")
class LinearLR(PolynomialLR):
    r""":class:`PolynomialLR` with power 1: a straight line from ``initial_learning_rate`` to
    ``end_learning_rate`` over ``total_iters`` steps (then flat, or cycling).

    .. math:: \eta_t = \eta_0 + (\eta_1 - \eta_0)\,\frac{\min(t, T)}{T}

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        end_learning_rate (float): :math:`\eta_1`.
        total_iters (int): :math:`T`.
        cycle (bool): as in :class:`PolynomialLR` (default: False).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import LinearLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = LinearLR(opt, initial_learning_rate=0.0, end_learning_rate=1.0, total_iters=4)
        >>> [s.lr_at(t)[0] for t in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        end_learning_rate: float,
        total_iters: int,
        cycle: bool = False,
        param_group_tags: Tags = None,
    ) -> None:
        super().__init__(
            optimizer, initial_learning_rate, end_learning_rate, total_iters, 1.0, cycle, param_group_tags
        )


@_register("exponentiallr", "multiply by decay_rate every total_iters steps (Keras ExponentialDecay)")
class ExponentialLR(LRScheduler):
    r"""Exponential decay: the learning rate is multiplied by ``decay_rate`` every ``total_iters``
    steps, continuously or, with ``staircase``, in steps.

    .. math::
        \eta_t = \eta_0\, r^{\,t / T} \quad\text{or}\quad \eta_t = \eta_0\, r^{\lfloor t / T\rfloor}

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        total_iters (int): :math:`T`, the steps per factor :math:`r`.
        decay_rate (float): :math:`r`.
        staircase (bool): decay at multiples of :math:`T` only (default: False).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import ExponentialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = ExponentialLR(opt, initial_learning_rate=1.0, total_iters=2, decay_rate=0.25)
        >>> [s.lr_at(t)[0] for t in range(4)]
        [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        total_iters: int,
        decay_rate: float,
        staircase: bool = False,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.total_iters = total_iters
        self.decay_rate = decay_rate
        self.staircase = staircase
        self._initial_value = initial_learning_rate
        schedule = _sched.exponential_decay(initial_learning_rate, total_iters, decay_rate, staircase)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("inverseexponentialtimedecaylr", "inverse time decay (Keras InverseTimeDecay) with a step exponent")
class InverseExponentialTimeDecayLR(LRScheduler):
    r"""Inverse time decay (Keras' ``InverseTimeDecay``) with an exponent on the step.

    .. math::
        \eta_t = \frac{\eta_0}{1 + r\,a_t}, \qquad a_t = \frac{t^{e}}{T}
        \quad(\text{or } \lfloor t^{e} / T \rfloor \text{ with staircase})

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        step_exponent (float): :math:`e`.
        total_iters (int): :math:`T`.
        decay_rate (float): :math:`r`.
        staircase (bool): take the floor of :math:`t^e / T` (default: False).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import InverseExponentialTimeDecayLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = InverseExponentialTimeDecayLR(opt, 1.0, step_exponent=1, total_iters=1, decay_rate=1.0)
        >>> [s.lr_at(t)[0] for t in range(4)]
        [1.0, 0.5, 0.3333333333333333, 0.25]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        step_exponent: int,
        total_iters: int,
        decay_rate: float,
        staircase: bool = False,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.step_exponent = step_exponent
        self.total_iters = total_iters
        self.decay_rate = decay_rate
        self.staircase = staircase
        self._initial_value = initial_learning_rate
        schedule = _sched.inverse_time_decay(initial_learning_rate, total_iters, decay_rate, staircase, step_exponent)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("inversesquarerootdecaylr", "inverse square-root decay after a flat warmup")
class InverseSquareRootDecayLR(LRScheduler):
    r"""Inverse square-root decay, flat for the first ``warmup_steps`` steps.

    .. math:: \eta_t = \eta_0\,\frac{s}{\sqrt{\max(t, W)}}

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0` (default: 1.0).
        scale (float): :math:`s` (default: 1.0).
        warmup_steps (int): :math:`W > 0` (default: 1).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import InverseSquareRootDecayLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = InverseSquareRootDecayLR(opt, initial_learning_rate=1.0, scale=2.0, warmup_steps=4)
        >>> [s.lr_at(t)[0] for t in (0, 4, 16)]
        [1.0, 1.0, 0.5]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float = 1.0,
        scale: float = 1.0,
        warmup_steps: int = 1,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.scale = scale
        self.warmup_steps = warmup_steps
        self._initial_value = initial_learning_rate
        schedule = _sched.inverse_square_root(initial_learning_rate, scale, warmup_steps)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("cosinedecaylr", "half-cosine from an initial to an end learning rate, then flat (Keras CosineDecay)")
class CosineDecayLR(LRScheduler):
    r"""Cosine decay from ``initial_learning_rate`` to ``end_learning_rate`` over ``total_iters``
    steps, then flat (Keras' ``CosineDecay``).

    .. math:: \eta_t = \eta_1 + (\eta_0 - \eta_1)\,\frac{1 + \cos(\pi \min(t, T) / T)}{2}

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        end_learning_rate (float): :math:`\eta_1`.
        total_iters (int): :math:`T`.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import CosineDecayLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = CosineDecayLR(opt, 1.0, 0.0, total_iters=2)
        >>> [round(s.lr_at(t)[0], 12) for t in range(4)]
        [1.0, 0.5, 0.0, 0.0]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        end_learning_rate: float,
        total_iters: int,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.end_learning_rate = end_learning_rate
        self.total_iters = total_iters
        self._initial_value = initial_learning_rate
        schedule = _sched.cosine(total_iters, initial_learning_rate, end_learning_rate)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


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


@_register("piecewiseconstantlr", "a constant learning rate per interval between milestones")
class PiecewiseConstantLR(LRScheduler):
    r"""A constant learning rate per interval: ``learning_rates[i]`` from milestone
    :math:`m_{i-1}` until :math:`m_i`; the last one holds forever.

    .. math:: \eta_t = \eta_i, \quad i = \#\{m_j \le t\}

    Args:
        optimizer (Optimizer): the optimizer.
        learning_rates (list of float): one more value than milestones.
        milestones (list of int): strictly increasing steps.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import PiecewiseConstantLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = PiecewiseConstantLR(opt, [0.1, 0.01, 0.001], milestones=[2, 4])
        >>> [s.lr_at(t)[0] for t in range(6)]
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        learning_rates: list[float],
        milestones: list[int],
        param_group_tags: Tags = None,
    ) -> None:
        self.learning_rates = list(learning_rates)
        self.milestones = list(milestones)
        schedule = _sched.piecewise_constant(learning_rates, milestones)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("multisteplr", "decay by gamma at each milestone, from an initial learning rate")
class MultiStepLR(LRScheduler):
    r"""Decay by ``gamma`` at each milestone (a milestone listed twice counts twice).

    .. math:: \eta_t = \eta_0\,\gamma^{\#\{m_i \le t\}}

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        gamma (float): :math:`\gamma`.
        milestones (list of int): the steps of the decays.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import MultiStepLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = MultiStepLR(opt, initial_learning_rate=1.0, gamma=0.5, milestones=[1, 3])
        >>> [s.lr_at(t)[0] for t in range(4)]
        [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        gamma: float,
        milestones: list[int],
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.gamma = gamma
        self.milestones = list(milestones)
        self._initial_value = initial_learning_rate
        factor = _sched.multistep(milestones, gamma)
        super().__init__(optimizer, lambda t: initial_learning_rate * factor(t), param_group_tags=param_group_tags)


@_register("steplr", "decay by gamma every step_size steps, from an initial learning rate")
class StepLR(LRScheduler):
    r"""Decay by ``gamma`` every ``step_size`` steps.

    .. math:: \eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        step_size (int): :math:`s`.
        gamma (float): :math:`\gamma`.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import StepLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = StepLR(opt, initial_learning_rate=1.0, step_size=2, gamma=0.5)
        >>> [s.lr_at(t)[0] for t in range(5)]
        [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        step_size: int,
        gamma: float,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.step_size = step_size
        self.gamma = gamma
        self._initial_value = initial_learning_rate
        factor = _sched.step(step_size, gamma)
        super().__init__(optimizer, lambda t: initial_learning_rate * factor(t), param_group_tags=param_group_tags)


@_register("cosineannealinglr", "periodic cosine between an initial learning rate and eta_min (SGDR without restarts)")
class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from ``initial_learning_rate`` down to ``eta_min`` over ``T_max`` steps;
    the cosine continues afterwards (back up by :math:`2T_{max}`), as in the closed form of torch's
    class.

    .. math:: \eta_t = \eta_{min} + \frac{\eta_{max} - \eta_{min}}{2}\Bigl(1 + \cos\frac{\pi t}{T_{max}}\Bigr)

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_{max}`.
        T_max (int): :math:`T_{max}`.
        eta_min (float): :math:`\eta_{min}` (default: 0.0).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import CosineAnnealingLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = CosineAnnealingLR(opt, initial_learning_rate=1.0, T_max=2)
        >>> [round(s.lr_at(t)[0], 12) for t in range(5)]
        [1.0, 0.5, 0.0, 0.5, 1.0]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        T_max: int,
        eta_min: float = 0.0,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.T_max = T_max
        self.eta_min = eta_min
        self._initial_value = initial_learning_rate
        schedule = _sched.cosine(T_max, initial_learning_rate, eta_min, periodic=True)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("lambdalr", "an initial learning rate times a user function of the step")
class LambdaLR(LRScheduler):
    r"""The initial learning rate times a function of the step.

    .. math:: \eta_t = \eta_0 \prod_k \lambda_k(t)

    The functions come from ``lr_lambda`` (one callable or a list, whose product is taken) or,
    as in Cerebras, from a subclass that overrides :meth:`set_lr_lambda`.

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        param_group_tags (str or list, optional): restrict to tagged groups.
        lr_lambda (callable or list of callables, keyword-only): :math:`\lambda_k` (an optimkit
            addition; Cerebras only allows overriding :meth:`set_lr_lambda`).

    Raises:
        TypeError: when there is no function (no ``lr_lambda`` and no override).

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import LambdaLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = LambdaLR(opt, initial_learning_rate=2.0, lr_lambda=lambda t: 0.5**t)
        >>> [s.lr_at(t)[0] for t in range(3)]
        [2.0, 1.0, 0.5]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        param_group_tags: Tags = None,
        *,
        lr_lambda: Callable[[float], float] | Sequence[Callable[[float], float]] | None = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self._initial_value = initial_learning_rate
        self._lambdas = lr_lambda
        fns = self.set_lr_lambda()
        if fns is None:
            raise TypeError(f"{type(self).__name__} needs lr_lambda=... or a subclass that overrides set_lr_lambda()")
        factors = list(fns) if isinstance(fns, (list, tuple)) else [fns]
        product = _sched.multiply(*factors)
        super().__init__(optimizer, lambda t: initial_learning_rate * product(t), param_group_tags=param_group_tags)

    def set_lr_lambda(self) -> Callable[[float], float] | Sequence[Callable[[float], float]] | None:
        """The function(s) of the step; override in a subclass (default: ``lr_lambda``)."""
        return self._lambdas


@_register("cosineannealingwarmrestarts", "cosine annealing with warm restarts (SGDR), any integer T_mult")
class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing restarted after periods :math:`T_0, T_0 m, T_0 m^2, \dots` (SGDR).

    .. math:: \eta_t = \eta_{min} + \frac{\eta_{max} - \eta_{min}}{2}\Bigl(1 + \cos\frac{\pi T_{cur}}{T_i}\Bigr)

    where :math:`T_i` is the current period and :math:`T_{cur}` the steps since the last
    restart (exact integer arithmetic; any integer :math:`m \ge 1`, where Cerebras only accepts
    1).

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_{max}`.
        T_0 (int): :math:`T_0`, the first period.
        T_mult (int): :math:`m` (default: 1).
        eta_min (float): :math:`\eta_{min}` (default: 0.0).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import CosineAnnealingWarmRestarts
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = CosineAnnealingWarmRestarts(opt, 1.0, T_0=2, T_mult=2)
        >>> [round(s.lr_at(t)[0], 6) for t in range(7)]
        [1.0, 0.5, 1.0, 0.853553, 0.5, 0.146447, 1.0]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.T_0 = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self._initial_value = initial_learning_rate
        schedule = _sched.cosine_warm_restarts(T_0, T_mult, initial_learning_rate, eta_min)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("multiplicativelr", "an initial learning rate times coefficient**step")
class MultiplicativeLR(LRScheduler):
    r"""Multiply by ``coefficient`` every step.

    .. math:: \eta_t = \eta_0\, c^{t}

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0`.
        coefficient (float): :math:`c`.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import MultiplicativeLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = MultiplicativeLR(opt, initial_learning_rate=1.0, coefficient=0.5)
        >>> [s.lr_at(t)[0] for t in range(4)]
        [1.0, 0.5, 0.25, 0.125]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        coefficient: float,
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.coefficient = coefficient
        self._initial_value = initial_learning_rate
        factor = _sched.exponential(coefficient)
        super().__init__(optimizer, lambda t: initial_learning_rate * factor(t), param_group_tags=param_group_tags)


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
        ratios = [(lambda t, fn=s.schedule, r=ref: fn(t) / r) for s, ref in zip(schedulers[1:], refs)]
        self._initial_value = schedulers[0].initial_value
        schedule = _sched.multiply(first, *ratios) if ratios else first
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


ChainedLR = ChainedScheduler


@_register("cycliclr", "cyclical learning rate between base_lr and max_lr")
class CyclicLR(LRScheduler):
    r"""Cyclical learning rate (Smith, 2017) between ``base_lr`` and ``max_lr``.

    .. math::
        c = \lfloor 1 + t / (u + d) \rfloor,\quad x = 1 + t/(u + d) - c,\quad
        r = \begin{cases} x/\rho & x \le \rho \\ (x - 1)/(\rho - 1) & x > \rho\end{cases}

    .. math:: \eta_t = \eta_b + (\eta_M - \eta_b)\, r\, s

    with :math:`\rho = u/(u+d)` and :math:`s = 1` (``"triangular"``), :math:`2^{1-c}`
    (``"triangular2"``) or :math:`\gamma^{t}` (``"exp_range"``); see
    :func:`optimkit.schedules.cyclic`. As in Cerebras, the mode decides what the scale is a
    function of; ``scale_mode`` is accepted (and checked) for compatibility.

    Args:
        optimizer (Optimizer): the optimizer.
        base_lr (float): :math:`\eta_b`.
        max_lr (float): :math:`\eta_M`.
        step_size_up (int): :math:`u` (default: 2000).
        step_size_down (int, optional): :math:`d` (default: :math:`u`).
        mode (str): ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma (float): :math:`\gamma` (default: 1.0).
        scale_mode (str): ``"cycle"`` or ``"iterations"``.
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import CyclicLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2)
        >>> [s.lr_at(t)[0] for t in range(6)]
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_mode: str = "cycle",
        param_group_tags: Tags = None,
    ) -> None:
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.base_lr = base_lr
        self.max_lr = max_lr
        self.step_size_up = step_size_up
        self.step_size_down = step_size_up if step_size_down is None else step_size_down
        self.mode = mode
        self.gamma = gamma
        self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self._initial_value = base_lr
        schedule = _sched.cyclic(base_lr, max_lr, step_size_up, step_size_down, mode, gamma)  # type: ignore[arg-type]
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


@_register("onecyclelr", "1cycle policy from an initial learning rate up to max_lr and far below")
class OneCycleLR(LRScheduler):
    r"""The 1cycle policy (Smith & Topin, 2018) from ``initial_learning_rate`` up to ``max_lr``
    and down to :math:`\eta_0 / \text{final\_div\_factor}`.

    Phases end at :math:`\rho T - 1` (and :math:`2\rho T - 2` for three phases) and :math:`T - 1`;
    each anneals with :math:`a(s, e, p)`, cosine :math:`e + \frac{s - e}{2}(1 + \cos \pi p)` or
    linear :math:`s + (e - s)p`, :math:`p` being the fraction of the phase done. Two phases:
    :math:`\eta_0 \to \eta_M \to \eta_0/\text{fdf}`; three: :math:`\eta_0 \to \eta_M \to \eta_0
    \to \eta_0/\text{fdf}`. See :func:`optimkit.schedules.one_cycle`. After ``total_steps`` the
    final value is held (Cerebras extrapolates the last phase's curve).

    Args:
        optimizer (Optimizer): the optimizer.
        initial_learning_rate (float): :math:`\eta_0` (torch's ``max_lr / div_factor``).
        max_lr (float): :math:`\eta_M`.
        total_steps (int): :math:`T` (default: 1000).
        pct_start (float): :math:`\rho` (default: 0.3).
        final_div_factor (float): fdf (default: 1e4).
        three_phase (bool): use three phases (default: False).
        anneal_strategy (str): ``"cos"`` or ``"linear"`` (default: ``"cos"``).
        param_group_tags (str or list, optional): restrict to tagged groups.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.lr_scheduler import OneCycleLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> s = OneCycleLR(opt, 0.1, max_lr=1.0, total_steps=10, pct_start=0.5,
        ...                final_div_factor=1.0, anneal_strategy="linear")
        >>> [round(s.lr_at(t)[0], 3) for t in range(0, 12, 2)]
        [0.1, 0.55, 1.0, 0.64, 0.28, 0.1]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        initial_learning_rate: float,
        max_lr: float,
        total_steps: int = 1000,
        pct_start: float = 0.3,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        anneal_strategy: str = "cos",
        param_group_tags: Tags = None,
    ) -> None:
        self.initial_learning_rate = initial_learning_rate
        self.max_lr = max_lr
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.final_div_factor = final_div_factor
        self.three_phase = three_phase
        self.anneal_strategy = anneal_strategy
        self._initial_value = initial_learning_rate
        if isinstance(final_div_factor, bool) or not isinstance(final_div_factor, (int, float)) or final_div_factor <= 0:
            raise ValueError(f"final_div_factor must be a positive number, got {final_div_factor!r}")
        schedule = _sched.one_cycle(
            total_steps,
            max_lr,
            pct_start,
            anneal_strategy,  # type: ignore[arg-type]
            three_phase=three_phase,
            initial_value=initial_learning_rate,
            final_value=initial_learning_rate / final_div_factor,
            hold=True,
        )
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


def _adjustment(group: dict[str, Any]) -> float:
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
        per_group = [(lambda t, a=a: base(t) * a) for a in self.adjustment_scalars]
        super().__init__(optimizer, base, param_group_tags=param_group_tags, per_group=per_group)


# --------------------------------------------------------------------------------------------
# Weight-decay twins, generated from the classes above
# --------------------------------------------------------------------------------------------

# Cerebras' argument names in the weight-decay schedulers.
_WD_NAMES = {
    "initial_learning_rate": "initial_val",
    "end_learning_rate": "end_val",
    "learning_rate": "val",
    "learning_rates": "vals",
    "base_lr": "base_val",
    "max_lr": "max_val",
    "lr_lambda": "val_lambda",
}


def _twin_name(lr_name: str) -> str:
    if lr_name == "ChainedScheduler":
        return "ChainedWD"
    return (lr_name[:-2] if lr_name.endswith("LR") else lr_name) + "WD"


def _weight_decay_twin(lr_cls: type[LRScheduler]) -> type[LRScheduler]:
    """A class that runs ``lr_cls``'s schedule on ``weight_decay``, with Cerebras' generic names."""
    lr_sig = inspect.signature(lr_cls.__init__)
    to_wd = {name: _WD_NAMES.get(name, name) for name in lr_sig.parameters}
    to_lr = {new: old for old, new in to_wd.items()}
    wd_sig = lr_sig.replace(parameters=[p.replace(name=to_wd[p.name]) for p in lr_sig.parameters.values()])
    name = _twin_name(lr_cls.__name__)

    def __init__(self: LRScheduler, *args: Any, **kwargs: Any) -> None:
        bound = wd_sig.bind(self, *args, **kwargs)  # the twin's own names, checked like a real signature
        arguments = dict(bound.arguments)
        arguments.pop("self")
        lr_cls.__init__(self, **{to_lr[k]: v for k, v in arguments.items()})

    __init__.__signature__ = wd_sig  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"
    renamed = ", ".join(f"``{old}`` -> ``{new}``" for old, new in to_wd.items() if old != new)
    doc = (
        f"Weight-decay twin of :class:`{lr_cls.__name__}`: the same schedule sets "
        f"``group['weight_decay']`` instead of ``group['lr']``."
        + (f"\n\n    Arguments renamed as in Cerebras: {renamed}." if renamed else "")
    )
    twin = type(name, (lr_cls,), {"__init__": __init__, "__doc__": doc, "param_group_key": "weight_decay", "__module__": __name__})
    register_scheduler(name.lower(), description=f"weight-decay twin of {lr_cls.__name__}", namespace="cerebras")(twin)
    return twin


LR_SCHEDULERS: tuple[type[LRScheduler], ...] = (
    ConstantLR,
    PolynomialLR,
    LinearLR,
    ExponentialLR,
    InverseExponentialTimeDecayLR,
    InverseSquareRootDecayLR,
    CosineDecayLR,
    SequentialLR,
    PiecewiseConstantLR,
    MultiStepLR,
    StepLR,
    CosineAnnealingLR,
    LambdaLR,
    CosineAnnealingWarmRestarts,
    MultiplicativeLR,
    ChainedScheduler,
    CyclicLR,
    OneCycleLR,
    ScalePerParamLR,
)
"""Every Cerebras learning-rate scheduler class."""

WD_SCHEDULERS: tuple[type[LRScheduler], ...] = tuple(_weight_decay_twin(cls) for cls in LR_SCHEDULERS)
"""Every weight-decay twin, in the order of :data:`LR_SCHEDULERS`."""

for _twin in WD_SCHEDULERS:
    globals()[_twin.__name__] = _twin
    __all__.append(_twin.__name__)
del _twin

# Names for static analysis (the classes are created by _weight_decay_twin above).
ConstantWD: type[LRScheduler]
PolynomialWD: type[LRScheduler]
LinearWD: type[LRScheduler]
ExponentialWD: type[LRScheduler]
InverseExponentialTimeDecayWD: type[LRScheduler]
InverseSquareRootDecayWD: type[LRScheduler]
CosineDecayWD: type[LRScheduler]
SequentialWD: type[LRScheduler]
PiecewiseConstantWD: type[LRScheduler]
MultiStepWD: type[LRScheduler]
StepWD: type[LRScheduler]
CosineAnnealingWD: type[LRScheduler]
LambdaWD: type[LRScheduler]
CosineAnnealingWarmRestartsWD: type[LRScheduler]
MultiplicativeWD: type[LRScheduler]
ChainedWD: type[LRScheduler]
CyclicWD: type[LRScheduler]
OneCycleWD: type[LRScheduler]
ScalePerParamWD: type[LRScheduler]


# --------------------------------------------------------------------------------------------
# Several hyperparameters at once
# --------------------------------------------------------------------------------------------


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

    def values_at(self, step: int) -> dict[str, list[Number]]:
        """Closed form at ``step`` of every scheduled hyperparameter, by key."""
        out: dict[str, list[Number]] = {}
        for sched in self._schedulers:
            key = self._key(sched)
            out[key] = sched.values_at(step) if hasattr(sched, "values_at") else sched.lr_at(step)
        return out
