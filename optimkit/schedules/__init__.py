"""Pure schedules: functions ``step -> value`` with no optimizer attached.

Each constructor validates its arguments when called (a bad argument fails at once, not at step
10 000) and returns a plain function of the step. Values are Python floats (float64). They are the
closed forms behind :mod:`optimkit.optim.lr_scheduler`, and can be used directly, combined with
:func:`warmup`, :func:`join`, :func:`cycle` and :func:`multiply`, or given to
:class:`optimkit.optim.lr_scheduler.ParamScheduler` to drive any hyperparameter.

Example:
    >>> from optimkit import schedules
    >>> f = schedules.warmup(schedules.cosine(total_steps=8), warmup_steps=2)
    >>> [round(f(t), 4) for t in range(0, 12, 2)]
    [0.0, 1.0, 0.8536, 0.5, 0.1464, 0.0]
"""

from ._combinators import cycle, join, multiply, warmup
from ._decay import exponential_decay, inverse_square_root, inverse_time_decay, piecewise_constant, polynomial_decay
from ._schedules import (
    Schedule,
    anneal_cos,
    anneal_linear,
    constant,
    cosine,
    cosine_warm_restarts,
    cyclic,
    cyclic_position,
    cyclic_scale,
    exponential,
    linear,
    multistep,
    one_cycle,
    one_cycle_phase_ends,
    phased_value,
    polynomial,
    restart_position,
    step,
)
from ._scaling import normalized, scaled

__all__ = [
    "Schedule",
    "anneal_cos",
    "anneal_linear",
    "constant",
    "cosine",
    "cosine_warm_restarts",
    "cycle",
    "cyclic",
    "cyclic_position",
    "cyclic_scale",
    "exponential",
    "exponential_decay",
    "inverse_square_root",
    "inverse_time_decay",
    "join",
    "linear",
    "multiply",
    "multistep",
    "normalized",
    "one_cycle",
    "one_cycle_phase_ends",
    "phased_value",
    "piecewise_constant",
    "polynomial",
    "polynomial_decay",
    "restart_position",
    "scaled",
    "step",
    "warmup",
]
