r"""Schedules that come back up: :class:`CosineAnnealingLR` (the cosine continues past
``T_max``), :class:`CosineAnnealingWarmRestarts` (SGDR), :class:`CyclicLR` (triangular cycles)
and :class:`OneCycleLR` (the 1cycle policy). The formulas are :func:`optimkit.schedules.cosine`,
:func:`~optimkit.schedules.cosine_warm_restarts`, :func:`~optimkit.schedules.cyclic` and
:func:`~optimkit.schedules.one_cycle`."""

from __future__ import annotations

from .... import schedules as _sched
from ._base import LRScheduler, Tags, _register, _TorchOptimizer


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
        # The schedule first: it checks every argument, mode included, before cyclic_scale is asked.
        schedule = _sched.cyclic(base_lr, max_lr, step_size_up, step_size_down, mode, gamma)  # type: ignore[arg-type]
        self.base_lr = base_lr
        self.max_lr = max_lr
        self.step_size_up = step_size_up
        self.step_size_down = step_size_up if step_size_down is None else step_size_down
        self.mode = mode
        self.gamma = gamma
        # What the mode's scale is a function of, as the schedule itself decides it.
        self.scale_mode = _sched.cyclic_scale(mode, gamma)[1]
        self._initial_value = base_lr
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
