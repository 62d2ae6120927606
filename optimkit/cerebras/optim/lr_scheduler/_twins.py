"""The weight-decay twins (``ConstantWD`` ... ``ScalePerParamWD``): one class per learning-rate
scheduler, generated from it, so that no formula is written twice.

A twin subclasses its learning-rate class, drives ``group["weight_decay"]`` instead of
``group["lr"]``, and takes Cerebras' generic argument names (``initial_val``, ``end_val``,
``val``, ``vals``, ``base_val``, ``max_val``, ``val_lambda``) in a real signature, which
``inspect.signature``, the registry and the generated reference read. Each twin is registered in
the ``"cerebras"`` namespace as it is made.
"""

from __future__ import annotations

import inspect
from typing import Any

from ....registry import register_scheduler
from ._base import LRScheduler
from ._composite import ChainedScheduler, ScalePerParamLR, SequentialLR
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

# The twins belong to the package, like the classes they are made from (the package sets those):
# reprs, pickles and the generated reference name ``optimkit.cerebras.optim.lr_scheduler``.
_PUBLIC_MODULE = __name__.rpartition(".")[0]

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
    """``StepLR`` -> ``StepWD``; Cerebras calls the twin of ``ChainedScheduler`` ``ChainedWD``."""
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
    twin = type(name, (lr_cls,), {"__init__": __init__, "__doc__": doc, "param_group_key": "weight_decay", "__module__": _PUBLIC_MODULE})
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

# The twins by name, spelled out so that imports of them can be checked statically (a misspelt
# name fails here, at import, with a KeyError).
_BY_NAME = {cls.__name__: cls for cls in WD_SCHEDULERS}
ConstantWD: type[LRScheduler] = _BY_NAME["ConstantWD"]
PolynomialWD: type[LRScheduler] = _BY_NAME["PolynomialWD"]
LinearWD: type[LRScheduler] = _BY_NAME["LinearWD"]
ExponentialWD: type[LRScheduler] = _BY_NAME["ExponentialWD"]
InverseExponentialTimeDecayWD: type[LRScheduler] = _BY_NAME["InverseExponentialTimeDecayWD"]
InverseSquareRootDecayWD: type[LRScheduler] = _BY_NAME["InverseSquareRootDecayWD"]
CosineDecayWD: type[LRScheduler] = _BY_NAME["CosineDecayWD"]
SequentialWD: type[LRScheduler] = _BY_NAME["SequentialWD"]
PiecewiseConstantWD: type[LRScheduler] = _BY_NAME["PiecewiseConstantWD"]
MultiStepWD: type[LRScheduler] = _BY_NAME["MultiStepWD"]
StepWD: type[LRScheduler] = _BY_NAME["StepWD"]
CosineAnnealingWD: type[LRScheduler] = _BY_NAME["CosineAnnealingWD"]
LambdaWD: type[LRScheduler] = _BY_NAME["LambdaWD"]
CosineAnnealingWarmRestartsWD: type[LRScheduler] = _BY_NAME["CosineAnnealingWarmRestartsWD"]
MultiplicativeWD: type[LRScheduler] = _BY_NAME["MultiplicativeWD"]
ChainedWD: type[LRScheduler] = _BY_NAME["ChainedWD"]
CyclicWD: type[LRScheduler] = _BY_NAME["CyclicWD"]
OneCycleWD: type[LRScheduler] = _BY_NAME["OneCycleWD"]
ScalePerParamWD: type[LRScheduler] = _BY_NAME["ScalePerParamWD"]
del _BY_NAME
