"""Schedulers of one rule each: user functions (:class:`LambdaLR`, :class:`MultiplicativeLR`) and
the factor schedulers, whose closed form is the base learning rate times a pure schedule of
:mod:`optimkit.schedules` (:class:`StepLR` ... :class:`CosineAnnealingLR`)."""

from __future__ import annotations

import math
import types
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from torch import Tensor

from ... import schedules as _sched
from ...registry import register_scheduler
from ._base import LRScheduler, Number, _float, _group_values, _StateError, _TorchOptimizer, _warn_unless_in_step


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

    def _check_state(self, state_dict: Mapping[str, Any]) -> dict[str, Any]:
        state = super()._check_state(state_dict)  # type: ignore[misc]
        error = _StateError(self)
        saved = state["lr_lambdas"]
        if len(saved) != len(self.lr_lambdas):
            raise error.length("lr_lambdas", len(saved), len(self.lr_lambdas), "lr_lambdas")
        for i, attrs in enumerate(saved):
            if attrs is not None and not isinstance(attrs, Mapping):
                raise error.kind(f"lr_lambdas[{i}]", "dict or None", attrs)
        return state

    def _apply_state(self, state: dict[str, Any]) -> None:
        saved = state.pop("lr_lambdas")
        super()._apply_state(state)  # type: ignore[misc]
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
        self, optimizer: _TorchOptimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
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
        self, optimizer: _TorchOptimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = optimizer
        self.lr_lambdas: list[Callable[[int], float]] = _lambda_list(optimizer, lr_lambda)
        not_callable = [fn for fn in self.lr_lambdas if not callable(fn)]
        if not_callable:
            raise TypeError(f"lr_lambda should be a function, but got {type(not_callable[0]).__name__}")
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


# --------------------------------------------------------------------------------------------
# Schedulers whose closed form is the base lr times a factor schedule
# --------------------------------------------------------------------------------------------


class _FactorScheduler(LRScheduler):
    """A scheduler whose closed form is ``base_lr * factor(step)`` with one factor schedule for
    all groups; these compose by multiplication inside :class:`ChainedScheduler`."""

    # The fast step paths here keep the new tensors of _scaled and _unchanged as the last lrs'
    # copies (``_store_lrs(copies=True)``), which only these methods as written here promise: a
    # subclass overriding either takes the general path, which clones.
    _fast_path_replaces: ClassVar[tuple[str, ...]] = (*LRScheduler._fast_path_replaces, "_scaled", "_unchanged")

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

    def _scaled(self, factor: float) -> list[Number]:
        """Every group's current lr times ``factor`` (the chainable rules)."""
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _unchanged(self) -> list[Number]:
        return _group_values(self.optimizer, "lr")


def _check_factor(value: float, low: float, high: float, *, open_low: bool, message: str) -> None:
    """``value`` in ``[low, high]`` (``(low, high]`` with ``open_low``), else torch's message.

    Compared as torch compares (``value > high`` first), so that a value of another type fails
    with torch's ``TypeError`` (``'>' not supported between instances of 'str' and 'float'``)."""
    if value > high or (value <= low if open_low else value < low):
        raise ValueError(message)


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
        return self._next_lrs()

    def _next_lrs(self) -> list[Number]:
        # The rule, shared by get_lr and the fast step path.
        decays = self.last_epoch != 0 and self.last_epoch % self.step_size == 0
        return self._scaled(self.gamma) if decays else self._unchanged()

    def _step_fast(self) -> None:
        # Both branches compute each group's value from its own lr (a scaled or a plain copy):
        # those new tensors serve as the last lrs, one clone fewer than torch per Tensor lr.
        self._store_lrs(self._next_lrs(), copies=True)

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
        repeats = self.milestones.get(self.last_epoch, 0)
        return self._scaled(self.gamma**repeats) if repeats else self._unchanged()

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
        _check_factor(factor, 0.0, 1.0, open_low=False,
                      message="Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: scale by ``factor`` at step 0, undo it at ``total_iters``."""
        _warn_unless_in_step(self)
        if self.last_epoch == 0:
            return self._scaled(self.factor)
        if self.last_epoch == self.total_iters:
            return self._scaled(1.0 / self.factor)
        return self._unchanged()

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
        self, optimizer: _TorchOptimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
        total_iters: int = 5, last_epoch: int = -1,
    ) -> None:
        _check_factor(start_factor, 0.0, 1.0, open_low=True, message=(
            "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."))
        _check_factor(end_factor, 0.0, 1.0, open_low=False,
                      message="Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Number]:
        """Recursive: the ratio of consecutive factors of the ramp."""
        _warn_unless_in_step(self)
        t = self.last_epoch
        if t == 0:
            return self._scaled(self.start_factor)
        if self._is_initial or t > self.total_iters:
            return self._unchanged()
        slope = self.end_factor - self.start_factor
        return self._scaled(1.0 + slope / (self.total_iters * self.start_factor + (t - 1) * slope))

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
        return self._unchanged() if self._is_initial else self._scaled(self.gamma)

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
        t, total = self.last_epoch, self.total_iters
        if self._is_initial or t > total:
            return self._unchanged()
        return self._scaled(((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power)

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
        return self._next_lrs_and_copies()[0]

    def _next_lrs_and_copies(self) -> tuple[list[Number], bool]:
        """The rule, shared by get_lr and the fast step path: the next lrs, and whether each
        one was computed from its own group's current lr alone (see ``_store_lrs(copies=)``)."""
        groups = self.optimizer.param_groups
        t, period, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._unchanged(), True
        if self._step_count == 1 and t > 0:
            return [low + (base - low) * (1 + math.cos(t * math.pi / period)) / 2 for base in self.base_lrs], False
        if (t - 1 - period) % (2 * period) == 0:
            # The previous step sat at the bottom (1 + cos = 0): the ratio below is undefined, so
            # add the first increment of the next half period instead.
            return [
                g["lr"] + (base - low) * (1 - math.cos(math.pi / period)) / 2
                for base, g in zip(self.base_lrs, groups)
            ], False
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        # ``ratio * (lr - low) + low``. For a floating-point Tensor lr and a floor of +0,
        # ``lr - low`` is ``lr`` bit for bit (-0.0 and NaN included) and is skipped: one Tensor
        # operation less. (Not with -0.0, which turns a -0.0 lr into +0.0; nor with a Tensor
        # floor, which may promote the dtype; nor for a bool lr, whose subtraction torch rejects.)
        plus_zero = type(low) in (float, int) and low == 0 and math.copysign(1.0, low) > 0
        lrs: list[Number] = []
        for group in groups:
            lr = group["lr"]
            if not (plus_zero and type(lr) is not float and isinstance(lr, Tensor) and lr.is_floating_point()):
                lr = lr - low
            lrs.append(ratio * lr + low)
        return lrs, True

    def _step_fast(self) -> None:
        # The recursive branches' values come from each group's own lr: they may serve as copies.
        self._store_lrs(*self._next_lrs_and_copies())

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
