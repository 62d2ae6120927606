"""The base class of optimkit's learning-rate schedulers and what they all share.

* the checks a state dict passes before :meth:`LRScheduler.load_state_dict` touches anything;
* torch's messages for the deprecated ``step(epoch)`` and for resuming without ``initial_lr``.

Reading and writing one hyperparameter of the parameter groups (Tensor values in place, so a
compiled ``optimizer.step`` keeps its guards), per-group arguments and the marker on
``optimizer.step`` behind torch's call-order warnings are shared with the Cerebras schedulers and
live in :mod:`optimkit._scheduler_plumbing`; they are imported back here, under the names the
sibling modules of this package import from ``._base``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..._scheduler_plumbing import (  # noqa: F401  (re-exported to the sibling modules)
    _GET_LR_WARNING,
    _ORDER_WARNING,
    _OVERRIDDEN_STEP_WARNING,
    Number,
    _as_fill_value,
    _call_order_problem,
    _check_optimizer,
    _detached_copy,
    _Flag,
    _float,
    _group_values,
    _per_group,
    _read_hyper,
    _run_eagerly_under_compile,
    _set_group_value,
    _set_momentum,
    _TorchOptimizer,
    _track_optimizer_step,
    _warn_unless_in_step,
    _write_hyper,
)

# torch's exact wording: users grep their logs for it.
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)


def _missing_initial_lr(index: int) -> str:
    """torch's message (tests and users match it) for resuming on a group without ``initial_lr``."""
    return (
        f"param 'initial_lr' is not specified in param_groups[{index}] when resuming scheduler "
        "with last_epoch >= 0.\n"
        "This typically happens when:\n"
        "1. You're trying to resume training from a checkpoint but haven't properly loaded "
        "the optimizer state\n"
        "2. You're using last_epoch >= 0 for a fresh training run (not recommended)"
    )


# --------------------------------------------------------------------------------------------
# Checking a state dict before loading it
# --------------------------------------------------------------------------------------------


def _value_kind(value: Any) -> str:
    """A coarse type of a state-dict value, to compare a value being loaded with the current one
    (a float learning rate and a one-element Tensor one are both ``"number"``)."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Real) or (isinstance(value, Tensor) and value.numel() == 1):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "sequence"
    return "object"


class _StateError:
    """Builds the messages of a rejected state dict, all prefixed with the class and method."""

    def __init__(self, scheduler: Any) -> None:
        self.where = f"{type(scheduler).__name__}.load_state_dict"

    def keys(self, scheduler: Any, missing: list[str], unexpected: list[str]) -> KeyError:
        return KeyError(
            f"{self.where}: the state dict does not fit this {type(scheduler).__name__} "
            f"(missing keys: {missing}, unexpected keys: {unexpected}); "
            "was it saved by another scheduler class?"
        )

    def kind(self, key: str, want: str, value: Any) -> TypeError:
        return TypeError(f"{self.where}: {key!r} must be a {want}, got {type(value).__name__} ({value!r})")

    def length(self, key: str, got: int, want: int, what: str = "parameter groups") -> ValueError:
        return ValueError(f"{self.where}: {key!r} has {got} entries but there are {want} {what}")

    def value(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.where}: {key!r} {problem}")


# --------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------


class LRScheduler(torch.optim.lr_scheduler.LRScheduler):
    r"""Base class of the schedulers: adjusts ``group["lr"]`` of an optimizer once per ``step()``.

    A subclass implements :meth:`get_lr` (the next learning rates, usually from the current ones,
    as torch does) and :meth:`lr_at` (the closed form at any step). Construction performs the
    first step: ``last_epoch`` goes from ``-1`` to ``0`` and the groups get the schedule's value
    at step 0.

    Args:
        optimizer (Optimizer): the optimizer whose learning rates are scheduled (torch's or
            optimkit's).
        last_epoch (int): index of the last step taken; ``-1`` (default) starts afresh. A value
            ``N >= 0`` resumes on a restored optimizer: every group must hold ``initial_lr``
            (torch's ``KeyError`` otherwise) and the current learning rates are kept.

    .. warning:: Constructing a scheduler overwrites ``group["lr"]``. When restoring a
        checkpoint, construct the scheduler before loading the optimizer's state.

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import LRScheduler
        >>> class Halving(LRScheduler):
        ...     def get_lr(self):
        ...         return [lr * 0.5 ** self.last_epoch for lr in self.base_lrs]
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = Halving(opt)
        >>> opt.step(); sched.step()
        >>> sched.last_epoch, sched.get_last_lr()
        (1, [0.5])
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    # What load_state_dict accepts. Keys a state dict may lack (older torch versions did not save
    # them; the current value stays):
    _optional_state: ClassVar[frozenset[str]] = frozenset({"_is_initial", "_get_lr_called_within_step"})
    # Keys older torch versions saved that are accepted and dropped (the deprecated ``verbose``):
    _legacy_state: ClassVar[frozenset[str]] = frozenset({"verbose"})
    # Lists of numbers with one entry per parameter group:
    _per_group_state: ClassVar[frozenset[str]] = frozenset({"base_lrs", "_last_lr"})
    # Keys that may hold None where this scheduler holds something else:
    _nullable_state: ClassVar[frozenset[str]] = frozenset()

    # The fast step path. A built-in class whose ``get_lr`` costs more Python than its arithmetic
    # (the per-batch schedulers) defines ``_step_fast``. Such a class computes its next values in
    # one private method that ``get_lr`` wraps (adding the warning when called outside step), so
    # the formulas exist once; ``_step_fast`` calls that method too and stores the values with
    # :meth:`_store_lrs`, skipping the flag, the warning check and the copy of ``_write_lrs``,
    # and hands the uncommon cases (a user's callback in the rule) to :meth:`_step_with_get_lr`.
    # It runs only for a plain ``step()``; ``step(epoch)`` and an overridden ``get_lr`` take the
    # general path (see ``__init_subclass__``).
    _step_fast: ClassVar[Callable[[Any], None] | None] = None
    # The methods that ``_step_fast`` stands in for: a subclass overriding any of them (a user's
    # own rule) must see its override called, so it loses the fast path of its parent. (Methods
    # that both paths call, such as the shared computation, need not be listed.)
    _fast_path_replaces: ClassVar[tuple[str, ...]] = ("get_lr", "_write_lrs", "_update_lr")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:  # every step() runs eagerly, also inside a compiled function
            cls.step = _run_eagerly_under_compile(cls.step)  # type: ignore[method-assign]
        if "_step_fast" not in cls.__dict__ and any(name in cls.__dict__ for name in cls._fast_path_replaces):
            cls._step_fast = None

    def __init__(self, optimizer: _TorchOptimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.base_lrs: list[Number] = self._record_initial_lrs(last_epoch)
        self.last_epoch = last_epoch
        _track_optimizer_step(optimizer)
        self._initial_step()

    def _record_initial_lrs(self, last_epoch: int) -> list[Number]:
        """The base learning rates: ``initial_lr`` of each group, first set from ``lr`` on a
        fresh start, required when resuming (it is what a restored optimizer holds)."""
        groups = self.optimizer.param_groups
        if last_epoch != -1:
            lacking = [i for i, group in enumerate(groups) if "initial_lr" not in group]
            if lacking:
                raise KeyError(_missing_initial_lr(lacking[0]))
        else:
            for group in groups:
                group.setdefault("initial_lr", _detached_copy(group["lr"]))
        return _group_values(self.optimizer, "initial_lr")

    def _initial_step(self) -> None:
        """Reset the step counter and take the first step (in "initial" mode)."""
        self._step_count = 0
        with _Flag(self, "_is_initial"):
            # An instance attribute from the start (it is in torch's state dict), also for the
            # fast step paths, which never set it.
            self._get_lr_called_within_step = False
            self.step()

    # ---- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state: every attribute except the optimizer.

        Example:
            >>> import torch
            >>> from optimkit.optim.lr_scheduler import ExponentialLR
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
            >>> sorted(ExponentialLR(opt, gamma=0.5).state_dict())[:3]
            ['_get_lr_called_within_step', '_is_initial', '_last_lr']
        """
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict` (this class's or torch's same class).

        The state dict is checked first and the scheduler changes only if it fits; the caller's
        dict is never modified (pytorch/pytorch#32756).

        Raises:
            KeyError: keys are missing or unexpected (e.g. a state dict of another class).
            TypeError: a value has the wrong type.
            ValueError: a per-group list has the wrong length, or a value is out of range.

        Example:
            >>> import torch
            >>> from optimkit.optim.lr_scheduler import StepLR, ExponentialLR
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
            >>> sched = StepLR(opt, step_size=2)
            >>> try:
            ...     sched.load_state_dict(ExponentialLR(opt, gamma=0.5).state_dict())
            ... except KeyError as err:
            ...     print("rejected")
            rejected
            >>> sched.step_size
            2
        """
        self._apply_state(self._check_state(state_dict))

    def _check_state(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``state_dict`` against this scheduler without changing anything, and return
        what :meth:`_apply_state` loads (a new dict)."""
        error = _StateError(self)
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{error.where}: expected a dict, got {type(state_dict).__name__}")
        current = self.state_dict()
        known = set(current) | self._optional_state | self._legacy_state
        missing = sorted(k for k in current if k not in state_dict and k not in self._optional_state)
        unexpected = sorted(k for k in state_dict if k not in known)
        if missing or unexpected:
            raise error.keys(self, missing, unexpected)
        groups = len(self.optimizer.param_groups)
        for key, value in state_dict.items():
            if key in current:
                self._check_state_value(error, key, current[key], value, groups)
        return dict(state_dict)

    def _check_state_value(self, error: _StateError, key: str, current: Any, value: Any, groups: int) -> None:
        """One value: of the kind of the current one; per-group lists of the right length."""
        want, got = _value_kind(current), _value_kind(value)
        if got == "None" and key in self._nullable_state:
            return
        if want not in ("None", "object") and got != want:
            raise error.kind(key, want, value)
        if key in self._per_group_state and got == "sequence":
            if len(value) != groups:
                raise error.length(key, len(value), groups)
            for i, item in enumerate(value):
                if _value_kind(item) != "number":
                    raise error.kind(f"{key}[{i}]", "number", item)

    def _apply_state(self, state: dict[str, Any]) -> None:
        """Load a checked state (legacy keys are dropped)."""
        self.__dict__.update({k: v for k, v in state.items() if k not in self._legacy_state})

    # ---- learning rates ------------------------------------------------------------------

    def get_last_lr(self) -> list[Number]:
        """The learning rates set by the latest step, one per group (copies, never aliases)."""
        return self._last_lr

    def get_lr(self) -> list[Number]:
        """The learning rates of the next step, one per group (implemented by subclasses)."""
        raise NotImplementedError

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the learning rate of every group at ``step`` (``last_epoch == step``),
        computed from the base learning rates without stepping (implemented by subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} has no closed form")

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form: the momentum (or ``beta1``) of every group at ``step``, or ``None`` where
        this scheduler does not schedule momentum (all but CyclicLR and OneCycleLR with
        ``cycle_momentum``, and composites of them)."""
        return None

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one step (call it after ``optimizer.step()``).

        Args:
            epoch (int, optional): deprecated, as in torch: jump to ``epoch`` and use the closed
                form where the class has torch's one (``_get_closed_form_lr``).
        """
        if self._step_count == 1:  # only the first step after construction can warn
            self._warn_about_call_order()
        self._step_count += 1
        if epoch is None:
            # The fast path, dispatched here rather than in _update_lr: one call less per step.
            # An instance attribute ``get_lr`` (a patched method) must be called, as in torch.
            fast = self._step_fast
            if fast is not None and "get_lr" not in self.__dict__:
                self.last_epoch += 1
                fast()
                return
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _warn_about_call_order(self) -> None:
        # pytorch/pytorch#20124; stacklevel 3: past this method and step(), to the user's call.
        message = _call_order_problem(self.optimizer)
        if message is not None:
            warnings.warn(message, UserWarning, stacklevel=3)

    def _update_lr(self, epoch: int | None = None) -> None:
        """Move to the next step (or to ``epoch``) and write its learning rates to the groups."""
        if epoch is None:
            self.last_epoch += 1
            self._step_with_get_lr()
            return
        self.last_epoch = epoch
        closed_form = getattr(self, "_get_closed_form_lr", None)
        if closed_form is None:
            self._step_with_get_lr()
            return
        self._get_lr_called_within_step = True
        try:
            values = closed_form()
        finally:
            self._get_lr_called_within_step = False
        self._write_lrs(values)

    def _step_with_get_lr(self) -> None:
        """The general step: ``get_lr()`` (marked as called by ``step()``, so it does not warn),
        then write its values. A plain try/finally rather than a context manager object: this
        runs every step of every scheduler without a fast path."""
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._write_lrs(values)

    def _write_lrs(self, values: Sequence[Number]) -> None:
        """Set every group's lr (Tensors in place) and remember copies as the last lrs."""
        self._store_lrs(list(values))  # a list of our own: _store_lrs may keep it

    def _store_lrs(self, values: list[Number], copies: bool = False) -> None:
        """:meth:`_write_lrs` of a list the caller hands over: without Tensors it becomes
        ``_last_lr`` as it is (the fast paths build it for this).

        ``copies=True`` promises that every Tensor value is a new tensor, referenced nowhere
        else, equal to what its group's lr holds once every group is written (a rule computing
        each group's value from that group's own current lr keeps this promise, also for groups
        sharing one lr tensor). Such a value of the lr's dtype, shape and device then serves as
        the copy kept in ``_last_lr``, one clone fewer per group.
        """
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"expected {len(groups)} learning rates, got {len(values)}")
        tensors = False
        for group, value in zip(groups, values):
            current = group["lr"]
            # Exact type checks first: isinstance against Tensor is slow for a non-Tensor.
            if type(current) is float and type(value) is float:
                group["lr"] = value
            elif isinstance(current, Tensor):
                # In place: a compiled step keeps its guards. (A float needs no squeezing.)
                current.fill_(value if type(value) is float else _as_fill_value(value))
                tensors = True
            else:
                group["lr"] = value
                tensors = tensors or isinstance(value, Tensor)
        # Without Tensors the groups now hold exactly ``values``. Otherwise copies are taken
        # after every group is written (as torch does): groups may share one lr tensor.
        if tensors:
            last: list[Number] = []
            for group, value in zip(groups, values):
                lr = group["lr"]
                if not isinstance(lr, Tensor):
                    last.append(lr)
                elif copies and value is not lr and isinstance(value, Tensor) and value.dtype == lr.dtype \
                        and value.shape == lr.shape and value.device == lr.device:
                    last.append(value)
                else:
                    last.append(lr.clone())
            values = last
        self._last_lr: list[Number] = values


LRScheduler.step = _run_eagerly_under_compile(LRScheduler.step)  # type: ignore[method-assign]


class _LRScheduler(LRScheduler):
    """Deprecated alias of :class:`LRScheduler`, kept (as in torch) for old subclasses."""

