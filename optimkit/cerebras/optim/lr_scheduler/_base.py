"""The base of the Cerebras schedulers: :class:`LRScheduler` (one pure schedule setting one
hyperparameter, absolute, in the selected parameter groups), :class:`WDScheduler`, and what every
class of this package shares: the registry decorator, ``param_group_tags`` and the checks on
child schedulers.

Group plumbing (reading a hyperparameter, writing it in place, the optimizer check) comes from
:mod:`optimkit._scheduler_plumbing`, shared with torch's facade; the stepping machinery from
:class:`~optimkit.optim.lr_scheduler.ParamScheduler`, a public class.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch

from .... import schedules as _sched
from ...._scheduler_plumbing import Number, _check_optimizer, _read_hyper
from ....optim._validation import argument_problems
from ....optim.lr_scheduler import ParamScheduler
from ....registry import register_scheduler

_TorchOptimizer = torch.optim.Optimizer
Tags = str | Iterable[str] | None


def _register(name: str, description: str) -> Callable[[type], type]:
    """``register_scheduler`` in the ``"cerebras"`` namespace (beside torch's classes of the same
    names)."""
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
    """Whether a scheduler restricted to ``tags`` drives ``group`` (its ``"tags"`` entry, one tag
    or a collection, shares one of them; every group when ``tags`` is ``None``)."""
    if tags is None:
        return True
    group_tags = group.get("tags")
    if not group_tags:
        return False
    if isinstance(group_tags, str):
        group_tags = {group_tags}
    return bool(tags.intersection(group_tags))


# --------------------------------------------------------------------------------------------
# Argument checks, in Cerebras' names
# --------------------------------------------------------------------------------------------

# The schedulers being constructed (by id): a subclass's __init__ calls its parent's, and only
# the outermost one, whose signature the caller used, checks and words the errors.
_CONSTRUCTING: set[int] = set()
# Not checked by type: the objects a scheduler is built around.
_OBJECTS = ("optimizer", "schedulers", "scheduler", "lr_lambda", "val_lambda", "param_group_tags")


def _named_error(cls_name: str, error: Exception, given: dict[str, Any]) -> Exception | None:
    """``error`` (a plain ValueError or TypeError of the pure schedule a constructor builds,
    which words its own argument names: ``decay_steps must be a positive integer, got 0``) with
    the Cerebras arguments it is about in front: those whose value the message quotes, else all
    given. ``None`` when the message names an argument already."""
    text = str(error)
    if type(error) not in (ValueError, TypeError) or not given:
        return None
    if any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) for name in given):
        return None
    quoted = re.search(r"got (.*?)\.?$", text)
    culprits = [name for name, value in given.items()
                if quoted is not None and quoted.group(1).strip() in (repr(value), str(value))]
    shown = ", ".join(f"{name}={given[name]!r}" for name in (culprits or given))
    return type(error)(f"{cls_name}({shown}): {text}")


def _checked(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` that first checks the argument types against the signature the caller used
    (``TypeError``/``ValueError`` naming the class and the argument: a bool is no number, a
    string no integer) and puts the argument names in front of the pure schedule's errors."""

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if id(self) in _CONSTRUCTING:
            init(self, *args, **kwargs)
            return
        cls = type(self)
        try:
            bound = inspect.signature(cls.__init__).bind(self, *args, **kwargs)
        except TypeError:
            init(self, *args, **kwargs)  # the call's own error, as Python words it
            return
        given = {k: v for k, v in bound.arguments.items() if k != "self" and k not in _OBJECTS
                 and not isinstance(v, dict)}
        problems = argument_problems(cls, {k: v for k, v in bound.arguments.items() if k not in _OBJECTS and k != "self"})
        if problems:
            raise problems[0].error(f"{cls.__name__}: {problems[0].message}")
        _CONSTRUCTING.add(id(self))
        try:
            init(self, *args, **kwargs)
        except (ValueError, TypeError) as error:
            named = _named_error(cls.__name__, error, given)
            if named is None:
                raise
            raise named from error
        finally:
            _CONSTRUCTING.discard(id(self))

    return __init__


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

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _checked(cls.__dict__["__init__"])  # type: ignore[method-assign]

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

    def momentum_at(self, step: int) -> None:
        """Closed form of the momenta: always ``None``, as the torch-style schedulers answer
        when they leave the momentum alone (no Cerebras scheduler schedules it); asked the same
        questions as :class:`optimkit.optim.lr_scheduler.OneCycleLR`, every scheduler answers."""
        return None

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
    """Children of a composite (``owner``) must be Cerebras schedulers driving ``key``: a weight
    decay schedule inside a learning-rate chain would silently set the wrong hyperparameter."""
    for i, sched in enumerate(schedulers):
        if not isinstance(sched, LRScheduler):
            raise TypeError(f"{owner} expects Cerebras schedulers, but got {type(sched).__name__} at index {i}")
        if sched.param_group_key != key:
            raise ValueError(
                f"{owner} expects all schedulers to have the same `param_group_key` ({key!r}), but the "
                f"scheduler at index {i} drives {sched.param_group_key!r}"
            )
