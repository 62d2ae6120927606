r"""Decays from an initial to an end value, Keras style (absolute values, not factors):
:class:`ConstantLR`, :class:`PolynomialLR` / :class:`LinearLR`, :class:`ExponentialLR`,
:class:`InverseExponentialTimeDecayLR`, :class:`InverseSquareRootDecayLR` and
:class:`CosineDecayLR`. Each formula is one function of :mod:`optimkit.schedules`."""

from __future__ import annotations

from .... import schedules as _sched
from ._base import LRScheduler, Tags, _register, _TorchOptimizer


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
        # 0 ** step_exponent at step 0, and 1 + decay_rate * t / T as a divisor: a negative value
        # of either divides by zero at some step.
        if step_exponent < 0:
            raise ValueError(f"step_exponent must be >= 0, got {step_exponent}")
        if decay_rate < 0:
            raise ValueError(f"decay_rate must be >= 0, got {decay_rate}")
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
