r"""The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural Networks",
2017): train for a short while with a learning rate that grows every step, watch the loss, and
pick the learning rate where the loss falls fastest.

The sweep is an ordinary :class:`~optimkit.optim.lr_scheduler.ParamScheduler` over a pure
schedule from :mod:`optimkit.schedules`; the loss is smoothed with an exponential moving average,

.. math::
    \bar L_0 = L_0, \qquad \bar L_i = (1 - s)\,\bar L_{i-1} + s\,L_i ,

and the sweep stops once :math:`\bar L_i > d \cdot \min_{j \le i} \bar L_j` (the loss diverged).
The model, its gradients, the optimizer's state and its parameter groups are put back exactly as
they were afterwards, also when the sweep raises.

Example:
    >>> import torch
    >>> from optimkit.optim import SGD
    >>> from optimkit.lr_finder import range_test
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 3)
    >>> y = x @ torch.tensor([1.0, -2.0, 0.5])
    >>> model = torch.nn.Linear(3, 1, bias=False)
    >>> opt = SGD(model.parameters(), lr=0.01)
    >>> before = model.weight.detach().clone()
    >>> result = range_test(model, opt, torch.nn.MSELoss(), [(x, y[:, None])], num_iter=50)
    >>> 1e-3 < result.suggestion() < 2.0
    True
    >>> torch.equal(model.weight, before), opt.param_groups[0]["lr"]
    (True, 0.01)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from . import schedules
from .optim.lr_scheduler import ParamScheduler

if TYPE_CHECKING:  # pragma: no cover - only for the type checker
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["RangeTestResult", "range_test", "sweep_schedule"]


def sweep_schedule(start_lr: float, end_lr: float, num_iter: int, mode: Literal["exp", "linear"] = "exp") -> schedules.Schedule:
    """The learning rate of each iteration of the sweep: ``start_lr`` at 0, ``end_lr`` at ``num_iter - 1``.

    ``"exp"`` spaces the learning rates evenly on a log scale, ``"linear"`` evenly.

    Example:
        >>> from optimkit.lr_finder import sweep_schedule
        >>> f = sweep_schedule(1e-3, 1e1, num_iter=5)
        >>> [f"{f(t):.0e}" for t in range(5)]
        ['1e-03', '1e-02', '1e-01', '1e+00', '1e+01']
        >>> g = sweep_schedule(0.0, 1.0, num_iter=5, mode="linear")
        >>> [g(t) for t in range(5)]
        [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 2:
        raise ValueError(f"num_iter must be an integer >= 2, got {num_iter!r}")
    if mode == "exp":
        if not (0 < start_lr < end_lr) or not math.isfinite(end_lr):
            raise ValueError(f"mode='exp' needs 0 < start_lr < end_lr, got start_lr={start_lr!r}, end_lr={end_lr!r}")
        gamma = (end_lr / start_lr) ** (1.0 / (num_iter - 1))
        return schedules.multiply(schedules.constant(start_lr), schedules.exponential(gamma))
    if mode == "linear":
        if not (0 <= start_lr < end_lr) or not math.isfinite(end_lr):
            raise ValueError(f"mode='linear' needs 0 <= start_lr < end_lr, got start_lr={start_lr!r}, end_lr={end_lr!r}")
        return schedules.linear(start_lr, end_lr, total_steps=num_iter - 1)
    raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}")


@dataclass
class RangeTestResult:
    """What a range test saw: one entry per optimizer step.

    Attributes:
        lrs: the learning rate of each step.
        losses: the smoothed loss after each step (what :meth:`suggestion` and :meth:`plot` use).
        raw_losses: the loss of each step before smoothing.
        mode: ``"exp"`` or ``"linear"``, the spacing of the learning rates.
        diverged: whether the sweep stopped early because the loss diverged.

    Example:
        >>> from optimkit.lr_finder import RangeTestResult
        >>> r = RangeTestResult(lrs=[1e-3, 1e-2, 1e-1, 1.0, 10.0], losses=[1.0, 0.98, 0.4, 0.35, 0.34])
        >>> r.suggestion()
        0.1
        >>> r.best_lr()
        10.0
    """

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float] = field(default_factory=list)
    mode: str = "exp"
    diverged: bool = False

    def _x(self) -> list[float]:
        # The slope is taken against the axis the sweep is even on (log lr for "exp").
        return [math.log10(lr) for lr in self.lrs] if self.mode == "exp" else list(self.lrs)

    def slopes(self) -> list[float]:
        """d(smoothed loss)/d(log10 lr) (``"exp"``) or d(loss)/d(lr) (``"linear"``) at each point,
        by central differences (one-sided at the ends).

        Example:
            >>> from optimkit.lr_finder import RangeTestResult
            >>> RangeTestResult(lrs=[0.0, 1.0, 2.0], losses=[3.0, 2.0, 0.0], mode="linear").slopes()
            [-1.0, -1.5, -2.0]
        """
        x, y = self._x(), self.losses
        n = len(y)
        if n < 2:
            return [0.0] * n
        out = []
        for i in range(n):
            lo, hi = max(i - 1, 0), min(i + 1, n - 1)
            out.append((y[hi] - y[lo]) / (x[hi] - x[lo]))
        return out

    def suggestion(self, skip_start: int = 0, skip_end: int = 0) -> float:
        """The learning rate at which the smoothed loss falls fastest (steepest descent).

        Args:
            skip_start: ignore this many points at the start of the sweep.
            skip_end: ignore this many points at the end (e.g. the diverging tail).

        Raises:
            ValueError: when fewer than three points remain, or the loss never falls.
        """
        slopes = self.slopes()
        stop = len(slopes) - skip_end
        window = [(s, i) for i, s in enumerate(slopes) if skip_start <= i < stop and math.isfinite(s)]
        if len(window) < 3:
            raise ValueError(
                f"the range test has {len(window)} usable points; a suggestion needs at least 3 "
                "(raise num_iter, lower start_lr, or skip fewer points)"
            )
        slope, index = min(window)
        if slope >= 0:
            raise ValueError("the loss never decreased during the range test; lower start_lr or raise end_lr")
        return self.lrs[index]

    def best_lr(self) -> float:
        """The learning rate with the lowest smoothed loss (usually too large to train with)."""
        return self.lrs[min(range(len(self.losses)), key=self.losses.__getitem__)]

    def plot(
        self,
        path: str | Path | None = None,
        *,
        ax: Axes | None = None,
        mark_suggestion: bool = True,
        title: str | None = None,
    ) -> Figure:
        """Plot the smoothed (and, faintly, the raw) loss against the learning rate.

        Args:
            path: where to save the figure as an image (PNG by the suffix); ``None`` to keep it.
            ax: draw into these axes instead of a new figure.
            mark_suggestion: mark :meth:`suggestion` with a dot and a dashed line.
            title: the axes' title.

        Returns:
            The figure (close it with ``matplotlib.pyplot.close`` when done).
        """
        import matplotlib

        if ax is None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        else:
            fig = ax.figure
        if self.raw_losses:
            ax.plot(self.lrs, self.raw_losses, color="tab:blue", alpha=0.25, lw=1, label="loss")
        ax.plot(self.lrs, self.losses, color="tab:blue", lw=2, label="smoothed loss")
        if self.mode == "exp":
            ax.set_xscale("log")
        if mark_suggestion:
            try:
                lr = self.suggestion()
            except ValueError:
                lr = None
            if lr is not None:
                y = self.losses[self.lrs.index(lr)]
                ax.axvline(lr, color="tab:red", ls="--", lw=1)
                ax.plot([lr], [y], "o", color="tab:red", label=f"steepest descent: lr = {lr:.3g}")
        finite = [v for v in (*self.losses, *self.raw_losses) if math.isfinite(v)]
        if finite:
            # Keep the diverging tail from squashing the interesting part of the curve.
            low, first = min(finite), max(self.losses[0], *(self.raw_losses[:1] or [self.losses[0]]))
            pad = 0.08 * abs(first - low) + 1e-12
            ax.set_ylim(low - pad, first + 2 * pad)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title(title or "learning-rate range test")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig


def _batches(data: Iterable[Any]) -> Iterator[Any]:
    """Endless batches: start over (a new epoch) whenever ``data`` runs out."""
    while True:
        empty = True
        for batch in data:
            empty = False
            yield batch
        if empty:
            raise ValueError("train_data yielded no batch (an exhausted iterator cannot be reused: pass a list or DataLoader)")


def _loss_of(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], batch: Any) -> torch.Tensor:
    try:
        inputs, targets = batch
    except (TypeError, ValueError):
        raise TypeError(f"each batch must be an (inputs, targets) pair, got {type(batch).__name__}") from None
    return loss_fn(model(inputs), targets)


def _validation_loss(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], data: Iterable[Any]) -> float:
    """The mean loss over ``data`` in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for batch in data:
                total += float(_loss_of(model, loss_fn, batch))
                count += 1
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("val_data yielded no batch")
    return total / count


class _Snapshot:
    """Everything a range test changes, copied so it can be put back bit for bit."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model_params = {id(p) for p in model.parameters()}
        self.params = list(model.parameters()) + [
            p for g in optimizer.param_groups for p in g["params"] if id(p) not in model_params
        ]
        self.values = [p.detach().clone() for p in self.params]
        self.grads = [None if p.grad is None else p.grad.detach().clone() for p in self.params]
        self.optimizer_state = copy.deepcopy(optimizer.state_dict())
        # The scheduler wraps optimizer.step and marks it; undo that too.
        self.instance_attrs = {k: vars(optimizer)[k] for k in ("step", "_opt_called") if k in vars(optimizer)}
        self.training = model.training

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        model.load_state_dict(self.model_state)
        with torch.no_grad():
            for p, value, grad in zip(self.params, self.values, self.grads):
                p.copy_(value)
                p.grad = grad
        optimizer.load_state_dict(self.optimizer_state)
        for key in ("step", "_opt_called"):
            if key in self.instance_attrs:
                setattr(optimizer, key, self.instance_attrs[key])
            else:
                vars(optimizer).pop(key, None)
        model.train(self.training)


def range_test(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[..., torch.Tensor],
    train_data: Iterable[Any],
    start_lr: float = 1e-7,
    end_lr: float = 10,
    num_iter: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    smooth: float = 0.05,
    diverge: float = 5.0,
    val_data: Iterable[Any] | None = None,
    accumulation_steps: int = 1,
) -> RangeTestResult:
    r"""Sweep the learning rate from ``start_lr`` to ``end_lr`` over ``num_iter`` optimizer steps.

    Each step takes ``accumulation_steps`` batches from ``train_data`` (started over when it runs
    out), back-propagates ``loss_fn(model(inputs), targets) / accumulation_steps`` for each, and
    calls ``optimizer.step()``; the learning rate of every parameter group follows
    :func:`sweep_schedule` through a :class:`~optimkit.optim.lr_scheduler.ParamScheduler`. The
    loss recorded for a step is the mean training loss of its batches, or, with ``val_data``, the
    mean loss over all of ``val_data`` after the step (slower, less noisy). The sweep stops early
    when the smoothed loss exceeds ``diverge`` times its best value or is not finite.

    Afterwards (also when an exception escapes) the parameters, buffers, gradients, training mode,
    the optimizer's state and its parameter groups are restored exactly.

    Args:
        model: the network; called as ``model(inputs)``.
        optimizer: any ``torch.optim.Optimizer`` over the model's parameters.
        loss_fn: ``loss_fn(outputs, targets) -> scalar tensor``.
        train_data: an iterable of ``(inputs, targets)`` batches (a list or a ``DataLoader``).
        start_lr: the first learning rate.
        end_lr: the last learning rate.
        num_iter: the number of optimizer steps (at least 2).
        mode: ``"exp"`` (log-spaced learning rates) or ``"linear"``.
        smooth: the weight of the newest loss in the moving average, in ``(0, 1]``; ``1`` means
            no smoothing.
        diverge: stop when the smoothed loss exceeds this multiple of the best one (``> 1``).
        val_data: optional batches to evaluate after every step instead of the training loss.
        accumulation_steps: batches whose gradients are summed before each step.

    Returns:
        A :class:`RangeTestResult` with the learning rates and losses; call ``suggestion()``.

    Raises:
        ValueError: for arguments out of range or data that yields no batch.
    """
    if not 0 < smooth <= 1:
        raise ValueError(f"smooth must be in (0, 1], got {smooth!r}")
    if not diverge > 1:
        raise ValueError(f"diverge must be greater than 1, got {diverge!r}")
    if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be a positive integer, got {accumulation_steps!r}")
    lr_schedule = sweep_schedule(start_lr, end_lr, num_iter, mode)

    snapshot = _Snapshot(model, optimizer)
    result = RangeTestResult(lrs=[], losses=[], raw_losses=[], mode=mode)
    try:
        model.train()
        sweep = ParamScheduler(optimizer, lr_schedule, key="lr", relative=False)
        batches = _batches(train_data)
        best = math.inf
        for _ in range(num_iter):
            lr = float(optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
            total = 0.0
            for _ in range(accumulation_steps):
                loss = _loss_of(model, loss_fn, next(batches))
                (loss / accumulation_steps).backward()
                total += float(loss.detach())
            optimizer.step()
            sweep.step()
            raw = total / accumulation_steps if val_data is None else _validation_loss(model, loss_fn, val_data)
            smoothed = raw if not result.losses else (1 - smooth) * result.losses[-1] + smooth * raw
            result.lrs.append(lr)
            result.raw_losses.append(raw)
            result.losses.append(smoothed)
            best = min(best, smoothed)
            if not math.isfinite(smoothed) or smoothed > diverge * best:
                result.diverged = True
                break
    finally:
        snapshot.restore(model, optimizer)
    return result
