"""Plumbing shared by optimkit's two scheduler facades: :mod:`optimkit.optim.lr_scheduler`
(torch's API) and :mod:`optimkit.cerebras.optim.lr_scheduler` (Cerebras' API).

Neither facade should reach into the other's private helpers, so what both need lives here:

* reading and writing one hyperparameter of a parameter group (``"lr"``, ``"weight_decay"``,
  ``"betas[0]"``, ...), Tensor values filled in place so that a compiled ``optimizer.step`` keeps
  its guards and does not recompile as the schedule moves;
* expanding a per-group argument (one value, or one per group);
* the marker on ``optimizer.step`` behind torch's two call-order warnings, and the ``get_lr()``
  warning with the flag that silences it inside ``step()``.

The helpers keep their underscore names: they are internal to optimkit, and the torch facade
re-exports them under the names its modules (and ``swa_utils``) have always imported.

Example:
    >>> import torch
    >>> from optimkit._scheduler_plumbing import _read_hyper, _write_hyper
    >>> lr = torch.tensor(0.1)
    >>> group = {"lr": lr, "betas": (0.9, 0.999)}
    >>> _write_hyper(group, "lr", 0.05); _write_hyper(group, "betas[0]", 0.8)
    >>> group["lr"] is lr, round(float(lr), 6), _read_hyper(group, "betas[0]"), group["betas"]
    (True, 0.05, 0.8, (0.8, 0.999))
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol
from weakref import ref

import torch
from torch import Tensor

_TorchOptimizer = torch.optim.Optimizer

Number = float | Tensor
"""A hyperparameter value: a Python float, or a (0-dim or 1-element) Tensor."""

# torch's exact wording (users grep their logs for it) of the two call-order warnings and the
# get_lr() one.
_OVERRIDDEN_STEP_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

_GET_LR_WARNING = "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."


# --------------------------------------------------------------------------------------------
# Reading and writing one hyperparameter of the parameter groups
# --------------------------------------------------------------------------------------------


def _detached_copy(value: Any) -> Any:
    """A copy that cannot alias the group's tensor (floats are immutable already)."""
    return value.clone() if isinstance(value, Tensor) else value


def _as_fill_value(value: Any) -> Any:
    """``fill_`` takes a number or a 0-dim tensor; squeeze 1-element tensors."""
    if isinstance(value, Tensor) and value.dim() != 0:
        return value.squeeze()
    return value


def _float(value: Any) -> float:
    """A Python float of a number or 1-element tensor (for the value-based closed forms)."""
    return float(value)


def _group_values(optimizer: _TorchOptimizer, key: str) -> list[Any]:
    """``group[key]`` of every group, Tensors cloned (so callers can never corrupt a group)."""
    return [_detached_copy(group[key]) for group in optimizer.param_groups]


def _set_group_value(group: dict[str, Any], key: str, value: Any) -> None:
    """Write ``value`` to ``group[key]``: in place with ``fill_`` when the group holds a Tensor,
    so the tensor's identity (and a compiled step's guards on it) survive."""
    if isinstance(group[key], Tensor):
        group[key].fill_(_as_fill_value(value))
    else:
        group[key] = value


def _read_hyper(group: dict[str, Any], key: str) -> Any:
    """``group[key]``, where ``key`` may also be ``"betas[0]"`` / ``"betas[1]"``."""
    if key.endswith("]") and "[" in key:
        name, index = key[:-1].split("[")
        return group[name][int(index)]
    return group[key]


def _write_hyper(group: dict[str, Any], key: str, value: Any) -> None:
    """Write one hyperparameter; Tensor entries (also inside ``betas``) are filled in place."""
    if key.endswith("]") and "[" in key:
        name, index_text = key[:-1].split("[")
        index = int(index_text)
        current = group[name]
        if isinstance(current[index], Tensor):
            current[index].fill_(_as_fill_value(value))
        else:
            items = list(current)
            items[index] = value
            group[name] = type(current)(items) if isinstance(current, tuple) else items
        return
    _set_group_value(group, key, value)


def _set_momentum(group: dict[str, Any], value: Any, use_beta1: bool) -> None:
    """Set the momentum-like hyperparameter (``betas[0]`` or ``momentum``) of one group.

    torch rebuilds the ``betas`` tuple from floats, which turns Tensor betas into floats and makes
    a compiled ``optimizer.step`` recompile; here Tensor entries are filled in place instead.
    """
    _write_hyper(group, "betas[0]" if use_beta1 else "momentum", value)


def _per_group(name: str, optimizer: _TorchOptimizer, value: Any) -> list[Any]:
    """One value per parameter group: a scalar is repeated, a list or tuple must match. Tensors
    are cloned, so a caller changing its tensor afterwards does not move the schedule."""
    count = len(optimizer.param_groups)
    if not isinstance(value, (list, tuple)):
        return [_detached_copy(value) for _ in range(count)]
    if len(value) != count:
        raise ValueError(
            f"{name} must have the same length as optimizer.param_groups. "
            f"{name} has {len(value)} values, param_groups has {count}."
        )
    return [_detached_copy(v) for v in value]


def _check_optimizer(optimizer: Any) -> None:
    """Reject anything that is not a :class:`torch.optim.Optimizer` (torch's message)."""
    if not isinstance(optimizer, _TorchOptimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


# --------------------------------------------------------------------------------------------
# Call order: the marker on optimizer.step and the get_lr() warning
# --------------------------------------------------------------------------------------------


def _track_optimizer_step(optimizer: _TorchOptimizer) -> None:
    """Wrap ``optimizer.step`` once so that calling it sets ``optimizer._opt_called``.

    The marker names are torch's, so torch's schedulers and these ones share one wrapper and agree
    on whether the optimizer stepped (pytorch/pytorch#20124 is why the check exists at all).
    """
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return
    bound = optimizer.step
    func = bound.__func__  # type: ignore[attr-defined]
    # A weak reference: the wrapper lives on the optimizer and must not keep it alive.
    opt_ref = ref(optimizer)

    @wraps(func)
    def step_and_mark(*args: Any, **kwargs: Any) -> Any:
        opt = opt_ref()
        opt._opt_called = True  # type: ignore[union-attr]
        return func.__get__(opt, opt.__class__)(*args, **kwargs)

    # Not traced by torch.compile (the step it calls still is): dynamo inlined this frame and then
    # dropped its attribute write, so under compile every scheduler warned that the optimizer had
    # not stepped. torch's own wrapper escapes the same way, its file being on dynamo's skip list.
    marking = torch.compiler.disable(step_and_mark, recursive=False)
    marking._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    optimizer.step = marking  # type: ignore[method-assign]


def _run_eagerly_under_compile(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` that ``torch.compile`` never traces, nor anything it calls, like torch's
    schedulers (whose file dynamo skips).

    A scheduler step branches on Python numbers (``last_epoch``, phases): traced inside a compiled
    training step it would be compiled again at every new branch, where run eagerly it only
    writes new values into the Tensor learning rates in place, which the compiled optimizer step
    reads without recompiling. Dynamo sees the marker and calls the function instead of tracing
    it; the function turns dynamo's frame hook off while it runs. Outside compiled code this costs
    two calls (``torch.compiler.disable`` costs 0.5 us per step, a third of a scheduler step).
    """
    try:
        from torch._C._dynamo.eval_frame import set_eval_frame
    except ImportError:  # another torch: its public decorator does the same, a little slower
        return torch.compiler.disable(method)

    @wraps(method)
    def eager(*args: Any, **kwargs: Any) -> Any:
        prior = set_eval_frame(None)
        try:
            return method(*args, **kwargs)
        finally:
            set_eval_frame(prior)

    eager._torchdynamo_disable = True  # type: ignore[attr-defined]
    return eager


def _call_order_problem(optimizer: _TorchOptimizer) -> str | None:
    """The warning due on a scheduler's first ``step()``, read from the marker that
    :func:`_track_optimizer_step` keeps: ``optimizer.step`` was replaced after the scheduler
    wrapped it, or has not been called yet; ``None`` when the order is right.

    The caller issues the warning, so that its ``stacklevel`` points at the user's code.
    """
    if not hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return _OVERRIDDEN_STEP_WARNING
    if getattr(optimizer, "_opt_called", False) or _skipped_for_nonfinite_gradients(optimizer):
        return None
    return _ORDER_WARNING


def _skipped_for_nonfinite_gradients(optimizer: _TorchOptimizer) -> bool:
    """Whether a gradient holds an inf or a NaN: then ``optimizer.step()`` was skipped on purpose
    (by ``torch.amp.GradScaler``, which skips overflowing steps, often the very first ones, or a
    non-finite guard), not forgotten, and the order warning would be false (torch warns there).
    Read only on a first scheduler step that finds the optimizer unstepped."""
    from .optim._nonfinite import _all_finite  # the guard's check (imported late: optim imports this module)

    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    return bool(grads) and not _all_finite(grads)


class _Flag:
    """Context manager that sets a boolean attribute of a scheduler for the duration."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner = owner
        self.name = name

    def __enter__(self) -> None:
        setattr(self.owner, self.name, True)

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, False)


class _SteppingScheduler(Protocol):
    """What :func:`_warn_unless_in_step` reads of a scheduler (set by ``_Flag`` in ``step()``)."""

    _get_lr_called_within_step: bool


def _warn_unless_in_step(scheduler: _SteppingScheduler) -> None:
    """torch's warning when ``get_lr()`` is called by the user rather than by ``step()``."""
    if not scheduler._get_lr_called_within_step:
        # stacklevel 3: past this helper and get_lr(), to the user's call.
        warnings.warn(_GET_LR_WARNING, UserWarning, stacklevel=3)
