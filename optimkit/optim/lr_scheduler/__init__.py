"""Learning-rate schedulers with the classes, signatures and observable behaviour of
:mod:`torch.optim.lr_scheduler`, written over the pure schedules of :mod:`optimkit.schedules`.

Every class here is a real subclass of :class:`torch.optim.lr_scheduler.LRScheduler`, so code that
checks for torch's base class (Lightning, the Hugging Face Trainer, ...) accepts it, and every
class drives torch's optimizers as well as optimkit's. What torch users see is kept:

* construction performs the first step (``last_epoch`` goes from -1 to 0), records
  ``initial_lr`` in each parameter group and fills ``base_lrs``; resuming with ``last_epoch >= 0``
  needs ``initial_lr`` in the groups (a restored optimizer) and raises torch's ``KeyError``
  without it;
* ``step()`` advances with the same *recursive* ("chainable") rule as torch where torch's rule is
  recursive, so the float sequences are bit-identical, and ``step(epoch)`` takes the deprecated
  closed-form path with torch's warning;
* the two call-order warnings (``optimizer.step()`` overridden, or scheduler stepped first);
* Tensor learning rates (and Tensor ``betas``) are updated in place with ``fill_``;
* state dicts have torch's keys: one saved by torch's scheduler loads into the same class here,
  and the other way round.

What is added:

* ``lr_at(step)``: the closed form of every scheduler, from the pure schedule it is built on;
* ``load_state_dict`` checks the state dict before touching the scheduler: one from another
  class, with missing keys, values of the wrong type or per-group lists of the wrong length is
  rejected (``KeyError`` / ``TypeError`` / ``ValueError`` naming the problem) and the scheduler
  is left as it was;
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

import types

# Besides the public classes: torch's module-level constant, and helpers other modules have
# imported from here (swa_utils' SWALR builds on them). The helpers live in
# optimkit._scheduler_plumbing, shared with the Cerebras schedulers, which import them from there.
from ._base import (
    EPOCH_DEPRECATION_WARNING,
    LRScheduler,
    Number,
    _check_optimizer,
    _LRScheduler,
    _per_group,
    _read_hyper,
    _warn_unless_in_step,
)
from ._composite import ChainedScheduler, SequentialLR
from ._cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR
from ._param import ParamScheduler
from ._plateau import ReduceLROnPlateau
from ._simple import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)

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

# The classes live in the private modules of this package (by theme, see their docstrings) but
# belong to ``optimkit.optim.lr_scheduler``: their reprs, pickles and the generated reference
# name it, like torch's own ``torch.optim.lr_scheduler.X``.
for _name in (*__all__, "_LRScheduler"):
    globals()[_name].__module__ = __name__
del _name

# doctest finds the examples of methods through their class, but only in the module whose globals
# the method has, and the classes now name this package: list those examples here.
__test__ = {
    f"{cls_name}.{attr}": member
    for cls_name in __all__
    for attr, member in vars(globals()[cls_name]).items()
    if isinstance(member, types.FunctionType) and ">>>" in (member.__doc__ or "")
}
del types
