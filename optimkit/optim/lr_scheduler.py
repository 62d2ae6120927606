"""Learning-rate schedulers with the classes, signatures and observable behaviour of
:mod:`torch.optim.lr_scheduler`, written over the pure schedules of :mod:`optimkit.schedules`.

Every class here is a real subclass of :class:`torch.optim.lr_scheduler.LRScheduler`, so code that
checks for torch's base class (Lightning, the Hugging Face Trainer, ...) accepts it, and every
class drives torch's optimizers as well as optimkit's. What torch users see is kept:

* construction performs the first step (``last_epoch`` goes from -1 to 0), records
  ``initial_lr`` in each parameter group and fills ``base_lrs``;
* ``step()`` advances with the same *recursive* ("chainable") rule as torch where torch's rule is
  recursive, so the float sequences are bit-identical, and ``step(epoch)`` takes the deprecated
  closed-form path with torch's warning;
* the two call-order warnings (``optimizer.step()`` overridden, or scheduler stepped first);
* Tensor learning rates (and Tensor ``betas``) are updated in place with ``fill_``.

What is added:

* ``lr_at(step)``: the closed form of every scheduler, from the pure schedule it is built on;
* resuming by a step count alone: ``last_epoch=N`` on groups without ``initial_lr`` takes the
  groups' current ``lr`` as the base and starts from the closed form at ``N`` (torch raises
  ``KeyError``);
* :class:`ParamScheduler`: one scheduler for any hyperparameter (``lr``, ``weight_decay``,
  ``momentum``, ``betas[0]``) driven by a pure schedule;
* :class:`ReduceLROnPlateau` may follow a warmup inside :class:`SequentialLR`; :class:`OneCycleLR`
  can hold its final lr past ``total_steps``; zero-length phases are rejected at construction.

Example:
    >>> import torch
    >>> from optimkit.optim import SGD
    >>> from optimkit.optim.lr_scheduler import StepLR
    >>> opt = SGD([torch.nn.Parameter(torch.zeros(2))], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     opt.step()
    ...     sched.step()
    ...     lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
    >>> sched.lr_at(5)
    [0.25]
"""

from __future__ import annotations

import math
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from typing import Any, Literal, SupportsFloat
from weakref import ref

import torch
from torch import Tensor

from .. import schedules as _sched
from ..registry import register_scheduler

__all__ = [
    "LambdaLR",
    "MultiplicativeLR",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "SequentialLR",
    "CosineAnnealingLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
    "CyclicLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "PolynomialLR",
    "LRScheduler",
    "ParamScheduler",
]

_TorchOptimizer = torch.optim.Optimizer

# torch's exact wording: users grep their logs for it.
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

_OVERRIDDEN_STEP_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

_GET_LR_WARNING = "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."

Number = float | Tensor


# --------------------------------------------------------------------------------------------
# Reading and writing one hyperparameter of the parameter groups
# --------------------------------------------------------------------------------------------


def _detached_copy(value: Any) -> Any:
    """A copy that cannot alias the group's tensor (floats are immutable already)."""
    return value.clone() if isinstance(value, Tensor) else value


def _as_fill_value(value: Any) -> Any:
    """``fill_`` takes a number or a 0-dim tensor; squeeze 1-element tensors."""
    if isinstance(value, Tensor) and value.dim() != 0:
        return value.squeeze()
    return value


def _group_values(optimizer: _TorchOptimizer, key: str) -> list[Any]:
    """``group[key]`` of every group, Tensors cloned (so callers can never corrupt a group)."""
    return [_detached_copy(group[key]) for group in optimizer.param_groups]


def _set_group_value(group: dict[str, Any], key: str, value: Any) -> None:
    """Write ``value`` to ``group[key]``: in place with ``fill_`` when the group holds a Tensor,
    so the tensor's identity (and a compiled step's guards on it) survive."""
    if isinstance(group[key], Tensor):
        group[key].fill_(_as_fill_value(value))
    else:
        group[key] = value


def _read_hyper(group: dict[str, Any], key: str) -> Any:
    """``group[key]``, where ``key`` may also be ``"betas[0]"`` / ``"betas[1]"``."""
    if key.endswith("]") and "[" in key:
        name, index = key[:-1].split("[")
        return group[name][int(index)]
    return group[key]


def _write_hyper(group: dict[str, Any], key: str, value: Any) -> None:
    """Write one hyperparameter; Tensor entries (also inside ``betas``) are filled in place."""
    if key.endswith("]") and "[" in key:
        name, index_text = key[:-1].split("[")
        index = int(index_text)
        current = group[name]
        if isinstance(current[index], Tensor):
            current[index].fill_(_as_fill_value(value))
        else:
            items = list(current)
            items[index] = value
            group[name] = type(current)(items) if isinstance(current, tuple) else items
        return
    _set_group_value(group, key, value)


def _set_momentum(group: dict[str, Any], value: float, use_beta1: bool) -> None:
    """Set the momentum-like hyperparameter (``betas[0]`` or ``momentum``) of one group.

    torch rebuilds the ``betas`` tuple from floats, which turns Tensor betas into floats and makes
    a compiled ``optimizer.step`` recompile; here Tensor entries are filled in place instead.
    """
    _write_hyper(group, "betas[0]" if use_beta1 else "momentum", value)


def _per_group(name: str, optimizer: _TorchOptimizer, value: Any) -> list[Any]:
    """One value per parameter group: a scalar is repeated, a list or tuple must match."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {len(optimizer.param_groups)}."
            )
        values = list(value)
    else:
        values = [value] * len(optimizer.param_groups)
    return [_detached_copy(v) for v in values]


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, _TorchOptimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _track_optimizer_step(optimizer: _TorchOptimizer) -> None:
    """Wrap ``optimizer.step`` once so that calling it sets ``optimizer._opt_called``.

    The marker names are torch's, so torch's schedulers and these ones share one wrapper and agree
    on whether the optimizer stepped (pytorch/pytorch#20124 is why the check exists at all).
    """
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return
    bound = optimizer.step
    func = bound.__func__  # type: ignore[attr-defined]
    # A weak reference: the wrapper lives on the optimizer and must not keep it alive.
    opt_ref = ref(optimizer)

    @wraps(func)
    def step_and_mark(*args: Any, **kwargs: Any) -> Any:
        opt = opt_ref()
        opt._opt_called = True  # type: ignore[union-attr]
        return func.__get__(opt, opt.__class__)(*args, **kwargs)

    step_and_mark._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.step = step_and_mark  # type: ignore[method-assign]


class _Flag:
    """Context manager that sets a boolean attribute of a scheduler for the duration."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner = owner
        self.name = name

    def __enter__(self) -> None:
        setattr(self.owner, self.name, True)

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, False)


def _warn_unless_in_step(scheduler: LRScheduler) -> None:
    if not scheduler._get_lr_called_within_step:
        warnings.warn(_GET_LR_WARNING, UserWarning, stacklevel=3)


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
            ``N >= 0`` resumes: with ``initial_lr`` in the groups (a restored optimizer) the
            current learning rates are kept, as in torch; without it, the groups' current ``lr``
            is taken as the base learning rate and the learning rate is set to the closed form at
            ``N`` (torch raises ``KeyError`` there).

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

    def __init__(self, optimizer: _TorchOptimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        resumed_by_count: list[int] = []
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _detached_copy(group["lr"]))
        else:
            resumed_by_count = [i for i, g in enumerate(optimizer.param_groups) if "initial_lr" not in g]
            if resumed_by_count and not self._can_resume_by_count():
                i = resumed_by_count[0]
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{i}] when resuming scheduler "
                    "with last_epoch >= 0.\n"
                    "This typically happens when:\n"
                    "1. You're trying to resume training from a checkpoint but haven't properly loaded "
                    "the optimizer state\n"
                    "2. You're using last_epoch >= 0 for a fresh training run (not recommended)"
                )
            for i in resumed_by_count:
                group = optimizer.param_groups[i]
                group["initial_lr"] = _detached_copy(group["lr"])
        self.base_lrs: list[Number] = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        if resumed_by_count:
            # As if the optimizer had been restored from a checkpoint taken at step N.
            values = self.lr_at(last_epoch)
            for i in resumed_by_count:
                _set_group_value(optimizer.param_groups[i], "lr", values[i])
        _track_optimizer_step(optimizer)
        self._initial_step()

    def _can_resume_by_count(self) -> bool:
        """Whether this class has a closed form to resume from (subclasses without one raise)."""
        return type(self).lr_at is not LRScheduler.lr_at

    def _initial_step(self) -> None:
        """Reset the step counter and take the first step (in "initial" mode)."""
        self._step_count = 0
        with _Flag(self, "_is_initial"):
            self.step()

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
        """Restore the state returned by :meth:`state_dict`."""
        self.__dict__.update(state_dict)

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

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one step (call it after ``optimizer.step()``).

        Args:
            epoch (int, optional): deprecated, as in torch: jump to ``epoch`` and use the closed
                form where the class has torch's one (``_get_closed_form_lr``).
        """
        if self._step_count == 1:
            if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
                warnings.warn(_OVERRIDDEN_STEP_WARNING, UserWarning, stacklevel=2)
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """Compute the next learning rates and write them to the groups."""
        with _Flag(self, "_get_lr_called_within_step"):
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"expected {len(groups)} learning rates, got {len(values)}")
        for group, value in zip(groups, values):
            _set_group_value(group, "lr", value)
        self._last_lr: list[Number] = _group_values(self.optimizer, "lr")


class _LRScheduler(LRScheduler):
    """Deprecated alias of :class:`LRScheduler`, kept (as in torch) for old subclasses."""


def _float(value: Any) -> float:
    """A Python float of a number or 1-element tensor (for the value-based closed forms)."""
    return float(value)


def _lambdas_state(fns: list[Any]) -> list[dict[str, Any] | None]:
    """What a state dict keeps of user callables: nothing for plain functions and lambdas (they
    cannot be saved as data), the attribute dict of callable objects (as torch does)."""
    return [None if isinstance(fn, types.FunctionType) else fn.__dict__.copy() for fn in fns]


def _lambda_list(optimizer: _TorchOptimizer, lr_lambda: Any) -> list[Callable[[int], float]]:
    if not isinstance(lr_lambda, (list, tuple)):
        return [lr_lambda] * len(optimizer.param_groups)
    if len(lr_lambda) != len(optimizer.param_groups):
        raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
    return list(lr_lambda)


class _LambdaStateMixin:
    """state_dict / load_state_dict of schedulers that hold user functions in ``lr_lambdas``."""

    lr_lambdas: list[Callable[[int], float]]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state; of each lambda only a callable object's ``__dict__`` is kept
        (plain functions and lambdas are stored as ``None``)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = _lambdas_state(self.lr_lambdas)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state; the caller's dict is left unchanged (pytorch/pytorch#32756)."""
        state = dict(state_dict)
        saved = state.pop("lr_lambdas")
        self.__dict__.update(state)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


@register_scheduler("lambdalr", description="base lr times a user function of the step", torch_name="LambdaLR")
class LambdaLR(_LambdaStateMixin, LRScheduler):
    r"""Learning rate equal to the base learning rate times a function of the step.

    .. math:: \eta_t = \eta_0\,\lambda(t)

    Args:
        optimizer (Optimizer): the optimizer.
        lr_lambda (function or list): ``step -> factor``, or one such function per group.
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import LambdaLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
        >>> sched = LambdaLR(opt, lambda t: 1 / (t + 1))
        >>> opt.step(); sched.step()
        >>> sched.get_last_lr(), sched.lr_at(3)
        ([1.0], [0.5])
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = optimizer
        self.lr_lambdas: list[Callable[[int], float]] = _lambda_list(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Base learning rates times each group's factor at ``last_epoch``."""
        _warn_unless_in_step(self)
        return self.lr_at(self.last_epoch)

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: ``base_lr * lr_lambda(step)`` per group."""
        return [base * fn(step) for fn, base in zip(self.lr_lambdas, self.base_lrs)]

    def _factor_schedules(self) -> list[_sched.Schedule] | None:
        # get_lr overwrites the lr from the base (it is not chainable), so a chain is no product.
        return None


@register_scheduler(
    "multiplicativelr", description="lr multiplied by a user function of the step, each step",
    torch_name="MultiplicativeLR",
)
class MultiplicativeLR(_LambdaStateMixin, LRScheduler):
    r"""Multiply the learning rate by a function of the step at every step.

    .. math:: \eta_t = \eta_{t-1}\,\lambda(t) = \eta_0 \prod_{s=1}^{t} \lambda(s)

    Args:
        optimizer (Optimizer): the optimizer.
        lr_lambda (function or list): ``step -> factor``, or one such function per group.
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import MultiplicativeLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = MultiplicativeLR(opt, lambda t: 0.5)
        >>> for _ in range(3):
        ...     opt.step(); sched.step()
        >>> sched.get_last_lr(), sched.lr_at(3)
        ([0.125], [0.125])
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = optimizer
        self.lr_lambdas: list[Callable[[int], float]] = _lambda_list(optimizer, lr_lambda)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Current learning rates times each group's factor at ``last_epoch`` (unchanged on the
        constructor's step)."""
        _warn_unless_in_step(self)
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * fn(self.last_epoch) for fn, g in zip(self.lr_lambdas, self.optimizer.param_groups)]

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: ``base_lr`` times the product of the factors of steps ``1..step``."""
        out = []
        for fn, base in zip(self.lr_lambdas, self.base_lrs):
            lr = base
            for s in range(1, step + 1):
                lr = lr * fn(s)
            out.append(lr)
        return out

    def _factor_schedules(self) -> list[_sched.Schedule] | None:
        def running_product(fn: Callable[[int], float]) -> _sched.Schedule:
            return lambda t: math.prod([fn(s) for s in range(1, int(t) + 1)], start=1.0)

        return [running_product(fn) for fn in self.lr_lambdas]


class _FactorScheduler(LRScheduler):
    """A scheduler whose closed form is ``base_lr * factor(step)`` with one factor schedule for
    all groups; these compose by multiplication inside :class:`ChainedScheduler`."""

    def _factor_schedule(self) -> _sched.Schedule:
        raise NotImplementedError

    def _factor_schedules(self) -> list[_sched.Schedule] | None:
        """One factor schedule per group, or ``None`` when the closed form is not a factor."""
        return [self._factor_schedule()] * len(self.base_lrs)

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: ``base_lr * factor(step)`` per group."""
        factor = self._factor_schedule()(step)
        return [base * factor for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[Number]:
        # torch has a closed form exactly for these classes; `step(epoch)` and SequentialLR's
        # milestones use it, so its presence is observable.
        return self.lr_at(self.last_epoch)


@register_scheduler("steplr", description="decay by gamma every step_size steps", torch_name="StepLR")
class StepLR(_FactorScheduler):
    r"""Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    .. math:: \eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}

    Args:
        optimizer (Optimizer): the optimizer.
        step_size (int): steps between two decays.
        gamma (float): the decay factor (default: 0.1).
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import StepLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> StepLR(opt, step_size=3, gamma=0.5).lr_at(7)
        [0.25]
    """

    def __init__(self, optimizer: _TorchOptimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: multiply by ``gamma`` on multiples of ``step_size``."""
        _warn_unless_in_step(self)
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _factor_schedule(self) -> _sched.Schedule:
        return _sched.step(self.step_size, self.gamma)


@register_scheduler("multisteplr", description="decay by gamma at each milestone", torch_name="MultiStepLR")
class MultiStepLR(_FactorScheduler):
    r"""Multiply the learning rate by ``gamma`` at each milestone.

    .. math:: \eta_t = \eta_0\,\gamma^{\#\{m_i \le t\}}

    Args:
        optimizer (Optimizer): the optimizer.
        milestones (iterable of int): the steps at which to decay; repeated entries decay twice.
        gamma (float): the decay factor (default: 0.1).
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import MultiStepLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> MultiStepLR(opt, milestones=[2, 5], gamma=0.5).lr_at(6)
        [0.25]
    """

    def __init__(
        self, optimizer: _TorchOptimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: multiply by ``gamma`` (once per repetition) at a milestone."""
        _warn_unless_in_step(self)
        if self.last_epoch not in self.milestones:
            return _group_values(self.optimizer, "lr")
        scale = self.gamma ** self.milestones[self.last_epoch]
        return [g["lr"] * scale for g in self.optimizer.param_groups]

    def _factor_schedule(self) -> _sched.Schedule:
        return _sched.multistep(self.milestones.elements(), self.gamma)


@register_scheduler("constantlr", description="lr times a constant factor for total_iters steps", torch_name="ConstantLR")
class ConstantLR(_FactorScheduler):
    r"""Scale the learning rate by a constant ``factor`` for the first ``total_iters`` steps.

    .. math:: \eta_t = \eta_0\,\bigl(f + [t \ge T]\,(1 - f)\bigr)

    Args:
        optimizer (Optimizer): the optimizer.
        factor (float): the factor in ``[0, 1]`` (default: 1/3).
        total_iters (int): the number of scaled steps (default: 5).
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import ConstantLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = ConstantLR(opt, factor=0.5, total_iters=2)
        >>> [sched.lr_at(t)[0] for t in range(4)]
        [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(
        self, optimizer: _TorchOptimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: scale by ``factor`` at step 0, undo it at ``total_iters``."""
        _warn_unless_in_step(self)
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * (1.0 / self.factor) for g in self.optimizer.param_groups]

    def _factor_schedule(self) -> _sched.Schedule:
        return _sched.constant(self.factor, self.total_iters)


@register_scheduler("linearlr", description="linear ramp of the lr factor over total_iters steps", torch_name="LinearLR")
class LinearLR(_FactorScheduler):
    r"""Change the learning-rate factor linearly from ``start_factor`` to ``end_factor``.

    .. math:: \eta_t = \eta_0 \Bigl(f_0 + (f_1 - f_0)\,\frac{\min(t, T)}{T}\Bigr)

    The recursive rule multiplies the previous learning rate by
    :math:`1 + \frac{f_1 - f_0}{T f_0 + (t - 1)(f_1 - f_0)}`, as torch does.

    Args:
        optimizer (Optimizer): the optimizer.
        start_factor (float): the factor at step 0, in ``(0, 1]`` (default: 1/3).
        end_factor (float): the factor from step ``total_iters`` on, in ``[0, 1]`` (default: 1).
        total_iters (int): the length of the ramp (default: 5).
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import LinearLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = LinearLR(opt, start_factor=0.5, total_iters=2)
        >>> [sched.lr_at(t)[0] for t in range(4)]
        [0.5, 0.75, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: the ratio of consecutive factors of the ramp."""
        _warn_unless_in_step(self)
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        slope = self.end_factor - self.start_factor
        ratio = 1.0 + slope / (self.total_iters * self.start_factor + (self.last_epoch - 1) * slope)
        return [g["lr"] * ratio for g in groups]

    def _factor_schedule(self) -> _sched.Schedule:
        return _sched.linear(self.start_factor, self.end_factor, self.total_iters)


@register_scheduler("exponentiallr", description="decay by gamma every step", torch_name="ExponentialLR")
class ExponentialLR(_FactorScheduler):
    r"""Multiply the learning rate by ``gamma`` every step.

    .. math:: \eta_t = \eta_0\,\gamma^{t}

    Args:
        optimizer (Optimizer): the optimizer.
        gamma (float): the decay factor.
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import ExponentialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> ExponentialLR(opt, gamma=0.5).lr_at(3)
        [0.125]
    """

    def __init__(self, optimizer: _TorchOptimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: multiply by ``gamma`` (not on the constructor's step, so a resumed
        scheduler does not decay twice)."""
        _warn_unless_in_step(self)
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _factor_schedule(self) -> _sched.Schedule:
        return _sched.exponential(self.gamma)


@register_scheduler("polynomiallr", description="polynomial decay to 0 over total_iters steps", torch_name="PolynomialLR")
class PolynomialLR(_FactorScheduler):
    r"""Decay the learning rate polynomially to 0 over ``total_iters`` steps.

    .. math:: \eta_t = \eta_0 \Bigl(1 - \frac{\min(t, T)}{T}\Bigr)^{p}

    Args:
        optimizer (Optimizer): the optimizer.
        total_iters (int): the length of the decay (default: 5).
        power (float): the power :math:`p` (default: 1.0).
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import PolynomialLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> PolynomialLR(opt, total_iters=4, power=2.0).lr_at(2)
        [0.25]
    """

    def __init__(
        self, optimizer: _TorchOptimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: the ratio of consecutive decay factors."""
        _warn_unless_in_step(self)
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_values(self.optimizer, "lr")
        t, total = self.last_epoch, self.total_iters
        ratio = ((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power
        return [g["lr"] * ratio for g in self.optimizer.param_groups]

    def _factor_schedule(self) -> _sched.Schedule:
        return _sched.polynomial(self.total_iters, self.power)


@register_scheduler("cosineannealinglr", description="cosine annealing to eta_min over T_max steps", torch_name="CosineAnnealingLR")
class CosineAnnealingLR(_FactorScheduler):
    r"""Cosine annealing from the base learning rate to ``eta_min`` over ``T_max`` steps
    (Loshchilov & Hutter, "SGDR", 2017, without the restarts).

    .. math:: \eta_t = \eta_{min} + (\eta_0 - \eta_{min})\,\frac{1 + \cos(\pi t / T_{max})}{2}

    Past ``T_max`` the cosine goes on (it rises again), as in torch. ``step()`` follows torch's
    recursive form, :math:`\eta_t = \eta_{min} + (\eta_{t-1} - \eta_{min})
    \frac{1 + \cos(\pi t / T)}{1 + \cos(\pi (t-1) / T)}` (with torch's additive rule where the
    denominator vanishes), so other schedulers may change the lr in between.

    Args:
        optimizer (Optimizer): the optimizer.
        T_max (int): the half period.
        eta_min (float): the minimum learning rate (default: 0).
        last_epoch (int): index of the last step (default: -1, start afresh).

    Example:
        >>> import torch
        >>> from optimkit.optim.lr_scheduler import CosineAnnealingLR
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> [round(x, 6) for x in CosineAnnealingLR(opt, T_max=4, eta_min=0.5).lr_at(2)]
        [0.75]
    """

    def __init__(self, optimizer: _TorchOptimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive cosine step (torch's chainable form)."""
        _warn_unless_in_step(self)
        groups = self.optimizer.param_groups
        t, period, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return _group_values(self.optimizer, "lr")
        if self._step_count == 1 and t > 0:
            return [low + (base - low) * (1 + math.cos(t * math.pi / period)) / 2 for base in self.base_lrs]
        if (t - 1 - period) % (2 * period) == 0:
            # The previous step sat at the bottom (1 + cos = 0): the ratio below is undefined, so
            # add the first increment of the next half period instead.
            return [
                g["lr"] + (base - low) * (1 - math.cos(math.pi / period)) / 2
                for base, g in zip(self.base_lrs, groups)
            ]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (g["lr"] - low) + low for g in groups]

    def _factor_schedules(self) -> list[_sched.Schedule] | None:
        # Only without a floor is the cosine a pure factor of the base learning rate.
        return None if self.eta_min != 0 else super()._factor_schedules()

    def _factor_schedule(self) -> _sched.Schedule:
        return _sched.cosine(self.T_max, 1.0, 0.0, periodic=True)

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the cosine between each group's base lr and ``eta_min``."""
        out: list[Number] = []
        for base in self.base_lrs:
            value = _sched.cosine(self.T_max, _float(base), self.eta_min, periodic=True)(step)
            out.append(value)
        return out


def _check_children(owner: str, optimizer: Any, schedulers: Sequence[Any], *, allow_plateau: bool) -> None:
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


def _children_state(schedulers: Sequence[Any], state: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in state.items() if k not in ("optimizer", "_schedulers")}
    out["_schedulers"] = [s.state_dict() for s in schedulers]
    return out


def _load_children(owner: Any, state_dict: dict[str, Any]) -> None:
    state = dict(state_dict)  # leave the caller's dict as it was (pytorch/pytorch#32756)
    children = state.pop("_schedulers")
    owner.__dict__.update(state)
    for sched, child_state in zip(owner._schedulers, children):
        sched.load_state_dict(child_state)


@register_scheduler("sequentiallr", description="run schedulers one after another at milestones", torch_name="SequentialLR")
class SequentialLR(LRScheduler):
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
        self,
        optimizer: _TorchOptimizer,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        name = self.__class__.__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
        _check_children(name, optimizer, schedulers, allow_plateau=True)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers {len(schedulers)} and the "
                f"number of milestones to be equal to {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            _set_group_value(group, "lr", group["initial_lr"])
        # The children already took their constructor step; take it back, then let only the
        # scheduler active at step 0 take it again.
        self.recursive_undo()
        first = self._schedulers[bisect_right(self._milestones, 0)]
        if isinstance(first, ReduceLROnPlateau):
            first._last_lr = _group_values(optimizer, "lr")
        else:
            first._initial_step()
        self._last_lr = first.get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Step every (nested) child back by one, undoing the step its constructor took."""
        target = self if sched is None else sched
        if hasattr(target, "_schedulers"):
            for child in target._schedulers:
                self.recursive_undo(child)
        elif isinstance(target, ReduceLROnPlateau):
            return  # its constructor takes no step
        elif hasattr(target, "last_epoch"):
            target.last_epoch -= 1

    def step(self, metrics: SupportsFloat | None = None) -> None:  # type: ignore[override]
        """Advance by one step; ``metrics`` goes to an active :class:`ReduceLROnPlateau`."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        switching = idx > 0 and self._milestones[idx - 1] == self.last_epoch
        if isinstance(sched, ReduceLROnPlateau):
            if metrics is None:
                raise ValueError(
                    f"{self.__class__.__name__}: the active scheduler (index {idx}) is ReduceLROnPlateau; "
                    "pass the monitored value as step(metrics)"
                )
            if switching:
                for group in self.optimizer.param_groups:
                    _set_group_value(group, "lr", group["initial_lr"])
            sched.step(metrics)
        elif switching:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the closed form of the scheduler active at ``step``, at its own step."""
        idx = bisect_right(self._milestones, step)
        offset = self._milestones[idx - 1] if idx > 0 else 0
        return self._schedulers[idx].lr_at(step - offset)

    def state_dict(self) -> dict[str, Any]:
        """The state, with each child's state dict under ``_schedulers``."""
        return _children_state(self._schedulers, self.__dict__)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state and every child's."""
        _load_children(self, state_dict)


@register_scheduler("chainedscheduler", description="step several schedulers together", torch_name="ChainedScheduler")
class ChainedScheduler(LRScheduler):
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
        name = self.__class__.__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_children(name, optimizer, schedulers, allow_plateau=False)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:  # type: ignore[override]
        """Step every scheduler, in order."""
        for sched in self._schedulers:
            sched.step()
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

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

    def state_dict(self) -> dict[str, Any]:
        """The state, with each child's state dict under ``_schedulers``."""
        return _children_state(self._schedulers, self.__dict__)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state and every child's."""
        _load_children(self, state_dict)


@register_scheduler("reducelronplateau", description="reduce the lr when a metric stops improving", torch_name="ReduceLROnPlateau")
class ReduceLROnPlateau(LRScheduler):
    r"""Reduce the learning rate when a monitored metric has stopped improving.

    After more than ``patience`` steps without improvement the learning rate of each group becomes
    :math:`\max(\eta \cdot \text{factor}, \eta_{min})` (skipped when the change is not larger than
    ``eps``), followed by ``cooldown`` steps during which bad steps are not counted. A value
    :math:`a` improves on the best :math:`b` when

    .. math::
        a < b(1 - \theta) \;(\text{min, rel}), \quad a < b - \theta \;(\text{min, abs}), \quad
        a > b(1 + \theta) \;(\text{max, rel}), \quad a > b + \theta \;(\text{max, abs}).

    It has no closed form (the learning rate depends on the metrics); it may follow a warmup
    inside :class:`SequentialLR`.

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

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: list[float] | float = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}")
            self.default_min_lr: float | None = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _group_values(self.optimizer, "lr")
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        """Forget the best value and the counters."""
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one value of the monitored metric and reduce the lr if it has plateaued."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _group_values(self.optimizer, "lr")

    def _reduce_lr(self, epoch: int) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    "The number of param groups in the `optimizer` "
                    f"({len(groups)}) differs "
                    f"from when `ReduceLROnPlateau` was initialized "
                    f"({len(self.min_lrs)}), usually due to a new "
                    "param group being added to the optimizer. Please "
                    "modify the `min_lrs` field to match the length "
                    "of the `optimizer` param groups."
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for i, group in enumerate(groups):
            old = float(group["lr"])
            new = max(old * self.factor, self.min_lrs[i])
            if old - new > self.eps:
                _set_group_value(group, "lr", new)

    @property
    def in_cooldown(self) -> bool:
        """Whether a cooldown is running."""
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state (and re-derive the comparison)."""
        self.__dict__.update(state_dict)
        self._init_is_better(mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode)


def _momentum_key_check(optimizer: _TorchOptimizer) -> bool:
    """``True`` when momentum is cycled through ``betas[0]``, ``False`` for ``momentum``."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    return "betas" in optimizer.defaults


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

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                _set_group_value(group, "lr", lr)
        else:
            # Resuming by a step count alone: the base learning rates are known from the args.
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group.setdefault("initial_lr", _detached_copy(lr))
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ["triangular", "triangular2", "exp_range"] and scale_fn is None:
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
                for top, bottom, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    _set_momentum(group, top, self.use_beta1)
                    group["max_momentum"] = top
                    group["base_momentum"] = bottom
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        # Named modes fix the scale mode; nothing callable is kept in the instance's __dict__, so
        # the state dict stays plain data.
        if self._scale_fn_custom is None and self.mode in ("triangular", "triangular2", "exp_range"):
            self.scale_mode = _sched.cyclic_scale(self.mode, self.gamma)[1]

    def scale_fn(self, x: float) -> float:
        """The amplitude scale at ``x`` (a cycle number or a step, see ``scale_mode``)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return _sched.cyclic_scale(self.mode, self.gamma)[0](x)

    def _at(self, step: float) -> tuple[list[Number], list[float] | None]:
        cycle, rise = _sched.cyclic_position(step, self.total_size, self.step_ratio)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else step)
        lrs = [base + (top - base) * rise * scale for base, top in zip(self.base_lrs, self.max_lrs)]
        momenta = None
        if self.cycle_momentum:
            # The inverse cycle: from max_momentum towards base_momentum.
            momenta = [top - (top - low) * rise * scale for low, top in zip(self.base_momentums, self.max_momentums)]
        return lrs, momenta

    def get_lr(self) -> list[Number]:
        """The learning rates at ``last_epoch`` (and set the momenta); closed form, as in torch."""
        _warn_unless_in_step(self)
        lrs, momenta = self._at(self.last_epoch)
        if momenta is not None:
            for group, m in zip(self.optimizer.param_groups, momenta):
                _set_momentum(group, m, self.use_beta1)
        return lrs

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the learning rates at ``step``."""
        return self._at(step)[0]

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form: the momenta at ``step`` (``None`` without ``cycle_momentum``)."""
        return self._at(step)[1]

    def state_dict(self) -> dict[str, Any]:
        """The state as plain data; see the class docstring about ``scale_fn``."""
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom")
        state.pop("_scale_fn_ref", None)
        state["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) else fn.__dict__.copy()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state; a custom ``scale_fn`` passed to the constructor is kept."""
        state = dict(state_dict)
        attrs = state.pop("_scale_fn_custom", None)
        state.pop("_scale_fn_ref", None)
        super().load_state_dict(state)
        if attrs is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(attrs)
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
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        if last_epoch >= 0:
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

    def step(self, epoch: float | None = None) -> None:
        """Advance by one step, or jump to ``epoch`` (may be fractional, e.g. ``e + i / n``)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            self.T_cur, self.T_i = _sched.restart_position(epoch, self.T_0, self.T_mult)
        self.last_epoch = math.floor(epoch)
        with _Flag(self, "_get_lr_called_within_step"):
            values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            _set_group_value(group, "lr", lr)
        self._last_lr = _group_values(self.optimizer, "lr")


_PHASE_POINTS_2 = [("initial_lr", "max_lr", "max_momentum", "base_momentum"),
                   ("max_lr", "min_lr", "base_momentum", "max_momentum")]
_PHASE_POINTS_3 = [("initial_lr", "max_lr", "max_momentum", "base_momentum"),
                   ("max_lr", "initial_lr", "base_momentum", "max_momentum"),
                   ("initial_lr", "min_lr", "max_momentum", "max_momentum")]


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
      ``optimizer.step`` does not recompile;
    * ``last_epoch=N`` works on a fresh optimizer (the group values are derived from the args).

    The state dict is plain data (``torch.load(weights_only=True)`` works).

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

    def __init__(
        self,
        optimizer: _TorchOptimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
        *,
        hold_final_lr: bool = False,
    ) -> None:
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            if total_steps <= 0 or not isinstance(total_steps, int):
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        ends = _sched.one_cycle_phase_ends(self.total_steps, pct_start, three_phase)
        names = _PHASE_POINTS_3 if three_phase else _PHASE_POINTS_2
        # torch's layout of the phases, kept so that state dicts look the same.
        self._schedule_phases = [
            {"end_step": end, "start_lr": a, "end_lr": b, "start_momentum": c, "end_momentum": d}
            for end, (a, b, c, d) in zip(ends, names)
        ]
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ["cos", "linear"]:
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
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        for top, group in zip(max_lrs, optimizer.param_groups):
            if last_epoch == -1:
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
            else:
                # Resuming by a step count alone: derive what a restored optimizer would hold.
                group.setdefault("initial_lr", top / div_factor)
                group.setdefault("max_lr", top)
                group.setdefault("min_lr", group["initial_lr"] / final_div_factor)
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key_check(optimizer)
            tops = _per_group("max_momentum", optimizer, max_momentum)
            lows = _per_group("base_momentum", optimizer, base_momentum)
            for top, low, group in zip(tops, lows, optimizer.param_groups):
                if last_epoch == -1:
                    _set_momentum(group, top, self.use_beta1)
                    group["max_momentum"] = top
                    group["base_momentum"] = low
                else:
                    group.setdefault("max_momentum", top)
                    group.setdefault("base_momentum", low)
        super().__init__(optimizer, last_epoch)

    def _anneal(self) -> Callable[[float, float, float], float]:
        return _sched.anneal_cos if self._anneal_func_type == "cos" else _sched.anneal_linear

    def _clamped(self, step: float) -> float:
        if step > self.total_steps and not getattr(self, "hold_final_lr", False):
            raise ValueError(f"Tried to step {step} times. The specified number of total steps is {self.total_steps}")
        if getattr(self, "hold_final_lr", False) and step >= self.total_steps:
            return self.total_steps - 1
        return step

    def _value(self, group: dict[str, Any], step: float, first: int) -> float:
        """One group's value at ``step``: ``first`` 0 for the lr, 2 for the momentum keys."""
        phases = self._schedule_phases
        keys = ("start_lr", "end_lr") if first == 0 else ("start_momentum", "end_momentum")
        ends = [p["end_step"] for p in phases]
        points = [(group[p[keys[0]]], group[p[keys[1]]]) for p in phases]
        return _sched.phased_value(step, ends, points, self._anneal())

    def get_lr(self) -> list[Number]:
        """The learning rates at ``last_epoch`` (and set the momenta); closed form, as in torch."""
        _warn_unless_in_step(self)
        step = self._clamped(self.last_epoch)
        lrs = []
        for group in self.optimizer.param_groups:
            lrs.append(self._value(group, step, 0))
            if self.cycle_momentum:
                _set_momentum(group, self._value(group, step, 2), self.use_beta1)
        return lrs

    def lr_at(self, step: int) -> list[Number]:
        """Closed form: the learning rates at ``step``."""
        step = self._clamped(step)
        return [self._value(group, step, 0) for group in self.optimizer.param_groups]

    def momentum_at(self, step: int) -> list[float] | None:
        """Closed form: the momenta at ``step`` (``None`` without ``cycle_momentum``)."""
        if not self.cycle_momentum:
            return None
        step = self._clamped(step)
        return [self._value(group, step, 2) for group in self.optimizer.param_groups]


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
                raise KeyError(f"param_groups[{i}] has no hyperparameter {key!r}") from None
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
        with _Flag(self, "_get_lr_called_within_step"):
            self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
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
