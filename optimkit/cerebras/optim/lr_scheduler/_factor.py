r"""Schedules set at milestones or by a factor of an initial value: :class:`PiecewiseConstantLR`,
:class:`MultiStepLR`, :class:`StepLR`, :class:`MultiplicativeLR` and :class:`LambdaLR`.

Cerebras gives these an ``initial_learning_rate`` where torch's classes take the optimizer's: the
value is :math:`\eta_0` times torch's factor schedule (:func:`optimkit.schedules.scaled` of
:func:`~optimkit.schedules.step`, :func:`~optimkit.schedules.multistep`, ...)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .... import schedules as _sched
from ._base import LRScheduler, Tags, _register, _TorchOptimizer


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
        schedule = _sched.scaled(_sched.multistep(milestones, gamma), initial_learning_rate)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)


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
        schedule = _sched.scaled(_sched.step(step_size, gamma), initial_learning_rate)
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
        schedule = _sched.scaled(_sched.exponential(coefficient), initial_learning_rate)
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
        schedule = _sched.scaled(_sched.multiply(*factors), initial_learning_rate)
        super().__init__(optimizer, schedule, param_group_tags=param_group_tags)

    def set_lr_lambda(self) -> Callable[[float], float] | Sequence[Callable[[float], float]] | None:
        """The function(s) of the step; override in a subclass (default: ``lr_lambda``)."""
        return self._lambdas
