"""The Cerebras base optimizer: ``cerebras.pytorch.optim.Optimizer`` on top of optimkit's base.

Cerebras documents an abstract base class (a :class:`torch.optim.Optimizer` and an
:class:`abc.ABC`) whose subclasses must create all of their state ahead of time in
``preinitialize()``, so that the whole training step, optimizer included, is one static graph from
the first iteration on. :class:`optimkit.optim.Optimizer` already has everything this needs
(``preinitialize``, ``state_names_to_sparsify``, ``increment_global_step``); this module adds the
Cerebras contract on top, for optimizers written against it:

* ``preinitialize`` and ``step`` are abstract, as in Cerebras' documentation;
* the constructor creates the state (:func:`initialize_state`), at its end, as Cerebras' base
  does: ``preinitialize()``, then the per-parameter global step when ``enable_global_step``.

The optimizers of this package (:class:`~optimkit.cerebras.optim.AdamW`, ...) are not written
against it: they run an optimkit algorithm, whose ``step`` and ``preinitialize`` are concrete.
They are *registered* as implementations of :class:`Optimizer` (``isinstance`` and ``issubclass``
hold, through :meth:`abc.ABCMeta.register`) instead of inheriting its abstract stubs, and their
constructors call :func:`initialize_state` once they have set every option.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import torch

from optimkit.optim import Optimizer as _OptimkitOptimizer
from optimkit.optim.optimizer import GLOBAL_STEP_KEY, ParamsT

__all__ = ["Optimizer", "ParamsT", "initialize_state"]


def initialize_state(optimizer: _OptimkitOptimizer) -> None:
    """Create the whole state of ``optimizer`` now: ``preinitialize()``, then a float32 global step
    of 0 for every parameter that lacks one when ``enable_global_step`` is on.

    What Cerebras' base does at the end of its constructor; a constructor calls it once every
    option its ``preinitialize`` reads is set.

    Example:
        >>> import torch
        >>> from optimkit.optim import Adam
        >>> from optimkit.cerebras.optim.optimizer import initialize_state
        >>> w = torch.nn.Parameter(torch.zeros(2))
        >>> opt = Adam([w])
        >>> opt.enable_global_step = True
        >>> initialize_state(opt)
        >>> sorted(opt.state[w])
        ['exp_avg', 'exp_avg_sq', 'global_step', 'step']
    """
    optimizer.preinitialize()
    if optimizer.enable_global_step:
        for group in optimizer.param_groups:
            for p in group["params"]:
                optimizer.state[p].setdefault(GLOBAL_STEP_KEY, torch.zeros((), dtype=torch.float32, device=p.device))


class Optimizer(_OptimkitOptimizer, abc.ABC):
    """Abstract base of the Cerebras optimizers (``cerebras.pytorch.optim.Optimizer``).

    A subclass creates every per-parameter state in ``preinitialize()`` and only updates it in
    ``step()``; the constructor calls ``preinitialize()`` (at its end, as Cerebras' base does), so
    no state appears during training. With ``enable_global_step=True`` each parameter also gets a
    float32 step counter (``state[p]["global_step"]``), which ``step()`` advances with
    :meth:`increment_global_step`.

    The optimizers of this package (:class:`~optimkit.cerebras.optim.AdamW`, ...) count as
    instances (``isinstance(opt, Optimizer)``) without inheriting from it: they run an
    :mod:`optimkit.optim` algorithm, with optimkit's generic ``preinitialize`` and ``step``, and
    are registered as implementations of this class.

    Args:
        params: tensors, or dicts defining parameter groups, as for any torch optimizer.
        defaults: the default value of every option of a parameter group.
        enable_global_step: keep a per-parameter global step (default: False).

    Example:
        A custom optimizer written as Cerebras documents it: plain SGD with a step counter.

        >>> import torch
        >>> from optimkit.cerebras.optim import Optimizer
        >>> class PlainSGD(Optimizer):
        ...     def __init__(self, params, lr=0.1):
        ...         super().__init__(params, {"lr": lr}, enable_global_step=True)
        ...     def preinitialize(self):
        ...         pass  # no state besides the global step
        ...     @torch.no_grad()
        ...     def step(self, closure=None):
        ...         for group in self.param_groups:
        ...             for p in group["params"]:
        ...                 if p.grad is not None:
        ...                     self.increment_global_step(p)
        ...                     p.add_(p.grad, alpha=-group["lr"])
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = PlainSGD([w])
        >>> opt.state[w]["global_step"]  # created by the constructor
        tensor(0.)
        >>> w.grad = torch.ones(2); opt.step()
        >>> w.detach(), opt.state[w]["global_step"]
        (tensor([0.9000, 0.9000]), tensor(1.))

        Leaving out ``step`` or ``preinitialize`` makes the class abstract:

        >>> class Incomplete(Optimizer):
        ...     def preinitialize(self):
        ...         pass
        >>> try:
        ...     Incomplete([w], {})
        ... except TypeError as error:
        ...     print("abstract" in str(error), "step" in str(error))
        True True
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any], enable_global_step: bool = False) -> None:
        super().__init__(params, defaults, enable_global_step=enable_global_step)
        # As in Cerebras' base: the state exists once the base constructor returns, so whatever
        # `preinitialize` reads must be set before calling it (typically: in `defaults`).
        initialize_state(self)

    @abc.abstractmethod
    def preinitialize(self) -> None:
        """Create every per-parameter state now (called by the constructor).

        The first ``step()`` then adds no state entry, so a traced or compiled step sees the same
        tensors from its first call on.
        """

    @abc.abstractmethod
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Update the parameters from their gradients, creating no new state.

        Args:
            closure: re-evaluates the model and returns the loss; optional.
        """
