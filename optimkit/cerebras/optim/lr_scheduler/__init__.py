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
                                (:func:`~optimkit.schedules.scaled`)
MultiplicativeLR                :math:`\eta_0` times :func:`~optimkit.schedules.exponential`
LambdaLR                        :math:`\eta_0` times the user's function
CyclicLR                        :func:`~optimkit.schedules.cyclic`
OneCycleLR                      :func:`~optimkit.schedules.one_cycle`
SequentialLR                    :func:`~optimkit.schedules.join` of the children
ChainedScheduler                :func:`~optimkit.schedules.multiply` of the children, each but
                                the first :func:`~optimkit.schedules.normalized` by its
                                initial value
ScalePerParamLR                 the wrapped schedule times ``group["adjust_learning_rate"]``
                                (:func:`~optimkit.schedules.scaled`)
==============================  ==================================================================

**Weight-decay twins.** Every class has a ``*WD`` twin (``CosineDecayWD``, ``StepWD``,
``ChainedWD``, ...) that drives ``group["weight_decay"]`` with the same schedule. The twins are
generated from the LR classes (no formula is written twice); their arguments carry Cerebras'
generic names (``initial_val``, ``end_val``, ``val``, ``vals``, ``base_val``, ``max_val``).

Both families are registered in the scheduler registry under the ``"cerebras"`` namespace
(``optimkit.registry.get_scheduler("CosineDecayLR", namespace="cerebras")``), beside torch's
classes of the same names.

The classes are written in the private modules of this package, by theme: ``_base`` (the base
classes, ``param_group_tags``), ``_decay`` (Keras-style decays), ``_factor`` (milestones and
factors of an initial value), ``_cyclic`` (cosine annealing, warm restarts, cyclic, 1cycle),
``_composite`` (schedulers of schedulers) and ``_twins`` (the generated ``*WD`` classes). They
are imported from here, where they belong.

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

import types

from ._base import LRScheduler, WDScheduler
from ._composite import ChainedScheduler, CombinedScheduler, ScalePerParamLR, SequentialLR
from ._cyclic import CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from ._decay import (
    ConstantLR,
    CosineDecayLR,
    ExponentialLR,
    InverseExponentialTimeDecayLR,
    InverseSquareRootDecayLR,
    LinearLR,
    PolynomialLR,
)
from ._factor import LambdaLR, MultiplicativeLR, MultiStepLR, PiecewiseConstantLR, StepLR
from ._twins import (
    LR_SCHEDULERS,
    WD_SCHEDULERS,
    ChainedWD,
    ConstantWD,
    CosineAnnealingWarmRestartsWD,
    CosineAnnealingWD,
    CosineDecayWD,
    CyclicWD,
    ExponentialWD,
    InverseExponentialTimeDecayWD,
    InverseSquareRootDecayWD,
    LambdaWD,
    LinearWD,
    MultiplicativeWD,
    MultiStepWD,
    OneCycleWD,
    PiecewiseConstantWD,
    PolynomialWD,
    ScalePerParamWD,
    SequentialWD,
    StepWD,
)

# Cerebras' other name for ChainedScheduler (bound after it, so doctest reports the class's
# examples under its own name).
ChainedLR = ChainedScheduler

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
    # The weight-decay twins, in the order of WD_SCHEDULERS.
    "ConstantWD",
    "PolynomialWD",
    "LinearWD",
    "ExponentialWD",
    "InverseExponentialTimeDecayWD",
    "InverseSquareRootDecayWD",
    "CosineDecayWD",
    "SequentialWD",
    "PiecewiseConstantWD",
    "MultiStepWD",
    "StepWD",
    "CosineAnnealingWD",
    "LambdaWD",
    "CosineAnnealingWarmRestartsWD",
    "MultiplicativeWD",
    "ChainedWD",
    "CyclicWD",
    "OneCycleWD",
    "ScalePerParamWD",
]

# The classes live in the private modules of this package but belong to
# ``optimkit.cerebras.optim.lr_scheduler``: their reprs, pickles and the generated reference
# (docs/reference.md) name it, as they did when the package was one module.
for _name in __all__:
    if isinstance(globals()[_name], type):
        globals()[_name].__module__ = __name__
del _name

# doctest finds the examples of methods through their class, but only in the module whose globals
# the method has, and the classes now name this package: list those examples here (the class
# docstrings themselves are found through this package).
__test__ = {
    f"{cls_name}.{attr}": member
    for cls_name in __all__
    if isinstance(globals()[cls_name], type)
    for attr, member in vars(globals()[cls_name]).items()
    if isinstance(member, types.FunctionType) and ">>>" in (member.__doc__ or "")
}
del types
