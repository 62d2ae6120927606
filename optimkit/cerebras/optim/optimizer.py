"""The Cerebras base optimizer: ``cerebras.pytorch.optim.Optimizer`` on top of optimkit's base.

Cerebras documents an abstract base class (a :class:`torch.optim.Optimizer` and an
:class:`abc.ABC`) whose subclasses must create all of their state ahead of time in
``preinitialize()``, so that the whole training step, optimizer included, is one static graph from
the first iteration on. :class:`optimkit.optim.Optimizer` already has everything this needs
(``preinitialize``, ``state_names_to_sparsify``, ``increment_global_step``); this module adds the
Cerebras contract on top:

* ``preinitialize`` and ``step`` are abstract for a class written directly against this base, as in
  Cerebras' documentation; classes that mix in an optimkit algorithm inherit optimkit's generic
  implementations;
* the state is created when the optimizer is constructed (Cerebras' base calls ``preinitialize``
  from its constructor), including the per-parameter global step when ``enable_global_step``;
* ``_ENABLE_GLOBAL_STEP`` lets a facade switch the global step on whatever its optimkit parent
  passes to this constructor.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from optimkit.optim import Optimizer as _OptimkitOptimizer
from optimkit.optim.optimizer import GLOBAL_STEP_KEY, ParamsT

__all__ = ["Optimizer", "ParamsT"]

# The methods Cerebras declares abstract on its base class.
_ABSTRACT = ("preinitialize", "step")


class _PreinitializingMeta(abc.ABCMeta):
    """Runs ``preinitialize()`` once the whole constructor chain has finished.

    Cerebras' base calls it from its own ``__init__``; here the optimkit parent of a facade is still
    in the middle of its constructor at that point (the options the state depends on may not be
    set yet), so the call waits until the object is complete.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        optimizer = super().__call__(*args, **kwargs)
        optimizer._preinitialize_on_construction()
        return optimizer


class Optimizer(_OptimkitOptimizer, abc.ABC, metaclass=_PreinitializingMeta):
    """Abstract base of the Cerebras optimizers (``cerebras.pytorch.optim.Optimizer``).

    A subclass creates every per-parameter state in ``preinitialize()`` and only updates it in
    ``step()``; the constructor calls ``preinitialize()``, so no state appears during training.
    With ``enable_global_step=True`` each parameter also gets a float32 step counter
    (``state[p]["global_step"]``), which ``step()`` advances with :meth:`increment_global_step`.

    The Cerebras optimizers of this package (:class:`~optimkit.cerebras.optim.AdamW`, ...) subclass
    both an :mod:`optimkit.optim` algorithm and this class, and so inherit optimkit's generic
    ``preinitialize`` and ``step``.

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

    # Facades set this to turn the global step on, as the Cerebras class of the same name does.
    _ENABLE_GLOBAL_STEP: ClassVar[bool] = False

    def __init__(self, params: ParamsT, defaults: dict[str, Any], enable_global_step: bool = False) -> None:
        super().__init__(params, defaults, enable_global_step=enable_global_step or self._ENABLE_GLOBAL_STEP)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # In a facade such as `class AdamW(optimkit.optim.AdamW, Optimizer)` this class comes
        # before optimkit's base in the MRO, so its abstract stubs would hide optimkit's generic
        # `step`/`preinitialize`. When an optimkit algorithm precedes this class, bind those
        # generic methods on the subclass itself (ABCMeta computes abstractness afterwards).
        mro = cls.__mro__
        ahead = mro[1:mro.index(Optimizer)]
        if any(issubclass(klass, _OptimkitOptimizer) and not issubclass(klass, Optimizer) for klass in ahead):
            for name in _ABSTRACT:
                if getattr(cls, name) is getattr(Optimizer, name):
                    setattr(cls, name, getattr(_OptimkitOptimizer, name))

    def _preinitialize_on_construction(self) -> None:
        self.preinitialize()
        if self.enable_global_step:
            for group in self.param_groups:
                for p in group["params"]:
                    self.state[p].setdefault(GLOBAL_STEP_KEY, torch.zeros((), dtype=torch.float32, device=p.device))

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
