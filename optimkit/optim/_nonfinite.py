r"""An opt-in guard that skips optimizer steps whose gradients are not finite.

:func:`skip_nonfinite` installs the guard on one optimizer (torch's or optimkit's); the guard is
not a constructor argument, so every class keeps torch's signature.

Example:
    >>> import torch, warnings
    >>> from optimkit.optim import SGD, skip_nonfinite
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> guard = skip_nonfinite(SGD([w], lr=0.1), warn=False)
    >>> w.grad = torch.tensor([1.0, float("nan")])
    >>> guard.optimizer.step()
    >>> w.detach(), guard.skipped_steps
    (tensor([1., 1.]), 1)
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from types import MethodType, TracebackType
from typing import Any

import torch
from torch import Tensor

__all__ = ["NonFiniteGuard", "skip_nonfinite", "nonfinite_grads"]

# Where the guard of an optimizer is kept (an instance attribute, like the marker torch's
# schedulers keep on ``optimizer.step``); the guarded step reads it on every call.
_ATTRIBUTE = "_nonfinite_guard"


def _values(grad: Tensor) -> Tensor:
    """The stored values of a gradient: all of a strided one, the non-zeros of a sparse one."""
    if grad.layout == torch.sparse_coo:
        return grad.coalesce().values() if not grad.is_coalesced() else grad.values()
    if grad.layout in (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc):
        return grad.values()
    return grad


def _all_finite(grads: list[Tensor]) -> bool:
    r"""Whether every element of every gradient is finite, with one host sync per device.

    The infinity norm :math:`\max_i |g_i|` of a tensor is finite exactly when all its elements
    are (a NaN propagates through the maximum, and the maximum of finite magnitudes cannot
    overflow), so dense gradients are checked with one ``_foreach_norm`` per device and dtype.
    """
    dense: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    flags: dict[torch.device, list[Tensor]] = {}
    for grad in grads:
        values = _values(grad)
        if values.layout == torch.strided and values.numel() > 0:
            dense.setdefault((values.device, values.dtype), []).append(values)
        elif values.numel() > 0:
            flags.setdefault(values.device, []).append(torch.isfinite(values).all())
    for (device, _), tensors in dense.items():
        try:
            norms = torch._foreach_norm(tensors, float("inf"))
            flags.setdefault(device, []).append(torch.isfinite(torch.stack(norms)).all())
        except (RuntimeError, TypeError, NotImplementedError):  # a dtype the kernel lacks
            flags.setdefault(device, []).extend(torch.isfinite(t).all() for t in tensors)
    return all(bool(torch.stack(device_flags).all()) for device_flags in flags.values())


def nonfinite_grads(optimizer: torch.optim.Optimizer) -> list[str]:
    """The parameters of ``optimizer`` whose gradient holds a NaN or an infinity.

    Each is named ``group G, parameter I`` (its position in ``optimizer.param_groups``), followed
    by its name in parentheses when the optimizer was built from named parameters.

    Example:
        >>> import torch
        >>> from optimkit.optim import Adam, nonfinite_grads
        >>> a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(1))
        >>> a.grad, b.grad = torch.ones(2), torch.tensor([float("inf")])
        >>> nonfinite_grads(Adam([a, b]))
        ['group 0, parameter 1']
    """
    found = []
    for g, group in enumerate(optimizer.param_groups):
        names = group.get("param_names")
        for i, p in enumerate(group["params"]):
            if p.grad is not None and not _all_finite([p.grad]):
                label = f"group {g}, parameter {i}"
                if isinstance(names, (list, tuple)) and i < len(names):
                    label += f" ({names[i]})"
                found.append(label)
    return found


def _grads(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]


class _Replay:
    """A closure whose first call returns the loss the guard already computed: the optimizer's
    own first evaluation then costs nothing, and later ones (LBFGS' line search) run as usual."""

    def __init__(self, closure: Callable[[], Any], loss: Any) -> None:
        self.closure = closure
        self.loss = loss
        self.fresh = True

    def __call__(self) -> Any:
        if self.fresh:
            self.fresh = False
            return self.loss
        return self.closure()


class NonFiniteGuard:
    r"""The guard :func:`skip_nonfinite` installed on an optimizer; read it to see what it did.

    Attributes:
        optimizer: the guarded optimizer.
        warn: whether a skipped step issues a ``RuntimeWarning`` (it may be changed at any time).
        skipped_steps: how many calls of ``optimizer.step()`` were skipped so far.
        last_step_skipped: whether the latest call of ``optimizer.step()`` was skipped.
        last_nonfinite: the parameters with a non-finite gradient at the latest skipped step
            (as :func:`nonfinite_grads` names them).
        active: ``False`` once :meth:`remove` was called.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, warn: bool) -> None:
        self.optimizer = optimizer
        self.warn = warn
        self.skipped_steps = 0
        self.last_step_skipped = False
        self.last_nonfinite: list[str] = []
        self.active = True

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        return (f"NonFiniteGuard({type(self.optimizer).__name__}, {state}, "
                f"skipped_steps={self.skipped_steps})")

    def remove(self) -> None:
        """Stop guarding: later steps run whatever their gradients hold.

        ``optimizer.step`` gets back the method it had before the guard, unless something wrapped
        it since (a scheduler built afterwards); the guarded step then only passes calls through.
        """
        if not self.active:
            return
        self.active = False
        optimizer = self.optimizer
        if optimizer.__dict__.get(_ATTRIBUTE) is self:
            del optimizer.__dict__[_ATTRIBUTE]
        installed = optimizer.__dict__.get("step")
        if isinstance(installed, MethodType) and getattr(installed.__func__, "_nonfinite_guard_of", None) is self:
            previous = installed.__func__._nonfinite_previous  # type: ignore[attr-defined]
            if previous is None:
                del optimizer.__dict__["step"]
            else:
                optimizer.__dict__["step"] = previous

    def __enter__(self) -> NonFiniteGuard:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.remove()

    def _step(self, optimizer: torch.optim.Optimizer, call: Callable[..., Any], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
        closure = args[0] if args else kwargs.get("closure")
        loss = None
        if closure is not None:
            # The gradients to check are the closure's: evaluate it once here and hand the
            # optimizer a closure that returns this loss on its first call.
            with torch.enable_grad():
                loss = closure()
            replay = _Replay(closure, loss)
            if args:
                args = (replay, *args[1:])
            else:
                kwargs = {**kwargs, "closure": replay}
        if _all_finite(_grads(optimizer)):
            self.last_step_skipped = False
            return call(optimizer, *args, **kwargs)
        self.skipped_steps += 1
        self.last_step_skipped = True
        self.last_nonfinite = nonfinite_grads(optimizer)
        # The step was asked for, in the right order: a scheduler stepped next must not warn
        # that optimizer.step() was never called (torch's scheduler reads this marker).
        optimizer._opt_called = True  # type: ignore[attr-defined]
        if self.warn:
            warnings.warn(
                f"skip_nonfinite: {type(optimizer).__name__}.step() skipped, non-finite gradient (NaN or inf) in "
                f"{', '.join(self.last_nonfinite)}; parameters and optimizer state are unchanged "
                f"({self.skipped_steps} step(s) skipped so far)",
                RuntimeWarning,
                stacklevel=_stacklevel(),
            )
        return loss


# Frames between the user's ``optimizer.step()`` and the warning: this module and the step
# wrappers of schedulers (optimkit's and torch's), skipped so that the warning points at the user.
_WRAPPER_FILES = (__file__, os.path.join("optimkit", "_scheduler_plumbing.py"), os.path.join("torch", "optim", "lr_scheduler.py"))
_WRAPPER_DIRS = (os.path.join("torch", "_dynamo", ""),)  # torch's decorators around such wrappers


def _wrapper_frame(filename: str) -> bool:
    return filename.endswith(_WRAPPER_FILES) or any(part in filename for part in _WRAPPER_DIRS)


def _stacklevel() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` in the caller) of the first frame outside the
    step wrappers."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and _wrapper_frame(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _caller(previous: Any) -> Callable[..., Any]:
    """How the guarded step calls the step it replaces, given as the optimizer to call it on."""
    if isinstance(previous, MethodType):
        func = previous.__func__
        # Bound again on each call (as torch's scheduler wrapper does): no reference from the
        # optimizer's own attribute back to the optimizer.
        return lambda optimizer, *args, **kwargs: func.__get__(optimizer, type(optimizer))(*args, **kwargs)
    return lambda optimizer, *args, **kwargs: previous(*args, **kwargs)


def skip_nonfinite(optimizer: torch.optim.Optimizer, *, warn: bool = True) -> NonFiniteGuard:
    r"""Make ``optimizer.step()`` skip every step whose gradients are not all finite.

    A step is taken only when

    .. math::
        \forall p \in \text{params with a gradient}:\quad g_p \in \mathbb{R}^{n_p}
        \text{ (no NaN, no } \pm\infty\text{)},

    checked over the gradients of every parameter group (the stored values of a sparse gradient;
    with a ``closure``, the gradients its evaluation leaves). Otherwise the step is skipped as a
    whole, as :class:`torch.amp.GradScaler` skips one: parameters, the per-parameter state and
    its step counters, and ``param_groups`` are left exactly as they were, the optimizer's step
    hooks do not run, the returned loss is the closure's (or ``None``), the guard counts the skip
    (``skipped_steps``, ``last_step_skipped``, ``last_nonfinite``) and, with ``warn=True``, a
    ``RuntimeWarning`` names the parameters at fault.

    It works with learning-rate schedulers built before or after it: a skipped step still counts
    as a call of ``optimizer.step()``, so a scheduler stepped next does not issue torch's
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`" warning. The schedule
    itself moves on (as after a step skipped by ``GradScaler``); a schedule that should not
    can be stepped only when ``not guard.last_step_skipped``.

    Calling it again on a guarded optimizer returns the installed guard (with ``warn`` updated).
    The guard is an instance attribute: it is not pickled with the optimizer, nor kept in its
    ``state_dict``. Under sharded gradients (FSDP, ZeRO) each process only sees its own shard:
    reduce the verdict across processes before relying on it.

    Args:
        optimizer: any :class:`torch.optim.Optimizer` (torch's or optimkit's).
        warn: issue a ``RuntimeWarning`` for each skipped step.

    Returns:
        The :class:`NonFiniteGuard`; ``guard.remove()`` (or leaving a ``with`` block over it)
        turns the check off again.

    Example:
        >>> import torch, warnings
        >>> from optimkit.optim import Adam, skip_nonfinite
        >>> from optimkit.optim.lr_scheduler import StepLR
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = Adam([w], lr=0.1)
        >>> guard = skip_nonfinite(opt)
        >>> sched = StepLR(opt, step_size=1, gamma=0.5)
        >>> w.grad = torch.tensor([float("inf"), 1.0])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     opt.step(); sched.step()
        >>> [str(c.message)[:45] for c in caught]
        ['skip_nonfinite: Adam.step() skipped, non-fini']
        >>> w.detach(), opt.state[w], guard.skipped_steps, guard.last_nonfinite
        (tensor([1., 1.]), {}, 1, ['group 0, parameter 0'])
        >>> w.grad = torch.ones(2)
        >>> opt.step(); guard.last_step_skipped, int(opt.state[w]["step"])
        (False, 1)
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"skip_nonfinite() needs a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(warn, bool):
        raise TypeError(f"skip_nonfinite(): warn must be a bool, got {type(warn).__name__} {warn!r}")
    existing = optimizer.__dict__.get(_ATTRIBUTE)
    if isinstance(existing, NonFiniteGuard) and existing.active:
        existing.warn = warn
        return existing
    guard = NonFiniteGuard(optimizer, warn)
    previous = optimizer.__dict__.get("step")  # an instance-level wrapper (a scheduler's), or None
    call = _caller(optimizer.step)

    def step(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        current = self.__dict__.get(_ATTRIBUTE)
        if current is None or not current.active:
            return call(self, *args, **kwargs)
        return current._step(self, call, args, kwargs)

    step.__doc__ = getattr(optimizer.step, "__doc__", None)
    step.__name__ = "step"
    step.__qualname__ = f"{type(optimizer).__name__}.step"
    step._nonfinite_guard_of = guard  # type: ignore[attr-defined]
    step._nonfinite_previous = previous  # type: ignore[attr-defined]
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        # A scheduler wrapped the step already: keep its marker visible, or the scheduler would
        # warn that optimizer.step() was overridden after it was built.
        step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.__dict__[_ATTRIBUTE] = guard
    optimizer.__dict__["step"] = MethodType(step, optimizer)
    return guard

