r"""The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural Networks",
2017): train for a short while with a learning rate that grows every step, watch the loss, and
pick a learning rate from the shape of the curve.

The sweep is an ordinary :class:`~optimkit.optim.lr_scheduler.ParamScheduler` over a pure
schedule from :mod:`optimkit.schedules`. The loss is smoothed with an exponential moving average
with bias correction (as fastai and torch-lr-finder do),

.. math::
    A_{-1} = 0, \qquad A_i = (1 - s)\,A_{i-1} + s\,L_i, \qquad \bar L_i = \frac{A_i}{1 - (1 - s)^{i+1}} ,

whose weight :math:`s` is ``5 / num_iter`` by default (0.05, torch-lr-finder's value, at the
default 100 steps): the average's time constant, :math:`1/s` steps, is then a fifth of the sweep
whatever ``num_iter`` is, so its lag in learning-rate terms, and with it the suggestions, do not
shift with the length of the sweep. The sweep stops once :math:`\bar L_i > d \cdot \min_{j \le i} \bar L_j`
(the loss diverged). Three standard suggestions are read from :math:`\bar L`:

* ``"valley"`` (fastai's default): about the middle of the longest stretch over which the loss
  keeps falling, counted from where it has made a twentieth of its fall (so that a flat start that
  sinks by a hair is not taken for descent). The most stable of the three as ``num_iter``
  changes; the default here too.
* ``"steepest"``: where the loss falls fastest against log lr (Smith's rule), before the minimum.
* ``"minimum"``: a tenth of the learning rate with the lowest loss.

When the loss never fell by more than its batch-to-batch noise (the learning rates were all too
small, or already too large), no learning rate is suggested: :class:`NoSuggestion` says why.
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

import bisect
import copy
import math
import statistics
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

__all__ = [
    "METHODS",
    "NoSuggestion",
    "RangeTestResult",
    "Suggestion",
    "default_smoothing",
    "range_test",
    "smooth_losses",
    "sweep_schedule",
]

Method = Literal["valley", "steepest", "minimum"]
METHODS: tuple[Method, ...] = ("valley", "steepest", "minimum")
"""The suggestion rules, the default first."""

_LABELS = {"valley": "valley", "steepest": "steepest descent", "minimum": "minimum / 10"}


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


def default_smoothing(num_iter: int) -> float:
    """The moving average's weight of the newest loss for a sweep of ``num_iter`` steps: ``5 / num_iter``
    (at most 0.5), so that the average covers the same share of the sweep at any length.

    Example:
        >>> from optimkit.lr_finder import default_smoothing
        >>> default_smoothing(100), default_smoothing(500), default_smoothing(4)
        (0.05, 0.01, 0.5)
    """
    return min(0.5, 5.0 / max(num_iter, 1))


def smooth_losses(losses: Iterable[float], weight: float) -> list[float]:
    r"""The bias-corrected exponential moving average of ``losses`` (newest weighted ``weight``).

    Unlike an average started at the first loss, every point is a proper weighted mean of the
    losses so far, so the first points are not pinned to one noisy batch.

    Example:
        >>> from optimkit.lr_finder import smooth_losses
        >>> smooth_losses([2.0, 2.0, 2.0], 0.5)
        [2.0, 2.0, 2.0]
        >>> [round(v, 4) for v in smooth_losses([1.0, 0.0], 0.5)]  # (0.5 * 0.5) / (1 - 0.25)
        [1.0, 0.3333]
    """
    if not 0 < weight <= 1:
        raise ValueError(f"the smoothing weight must be in (0, 1], got {weight!r}")
    out, average, keep = [], 0.0, 1.0 - weight
    for i, value in enumerate(losses):
        average = keep * average + weight * value
        out.append(average / (1.0 - keep ** (i + 1)))
    return out


class NoSuggestion(ValueError):
    """The curve does not support a suggestion; the message says why and what to change.

    Attributes:
        reason: ``"few_points"``, ``"flat"`` (the loss never moved: the learning rates were too
            small), ``"rising"`` (it only rose: already too large) or ``"no_window"``.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Suggestion:
    """One suggested learning rate.

    Attributes:
        method: ``"valley"``, ``"steepest"`` or ``"minimum"``.
        lr: the learning rate suggested.
        index: the point of the sweep it was read at (for ``"minimum"``: the sweep point closest
            to the suggested lr, which is a tenth of the minimum's).
    """

    method: str
    lr: float
    index: int

    @property
    def label(self) -> str:
        """The method as printed: ``"valley"``, ``"steepest descent"``, ``"minimum / 10"``."""
        return _LABELS[self.method]


def _noise(values: list[float]) -> float:
    """The batch-to-batch noise of raw losses: a robust standard deviation of their first
    differences (a median, so a trend or a few divergent steps do not count), over sqrt(2);
    0 for fewer than 11 values."""
    steps = [b - a for a, b in zip(values, values[1:]) if math.isfinite(a) and math.isfinite(b)]
    if len(steps) < 10:
        return 0.0  # too few to tell noise from the trend: any move of 1 % counts
    centre = statistics.median(steps)
    return 1.4826 * statistics.median(abs(s - centre) for s in steps) / math.sqrt(2)


def _longest_descent(values: list[float]) -> tuple[int, int]:
    """``(start, end)`` of fastai's "valley": ``end`` is the first index that ends a longest
    strictly decreasing subsequence, ``start`` where one of that length begins (``end`` minus its
    length, plus one). Patience sorting, O(n log n), instead of fastai's O(n^2) double loop."""
    tails: list[float] = []  # tails[k]: the largest last value of a decreasing run of length k + 1 (negated)
    best_end, best_length = 0, 0
    for i, value in enumerate(values):
        k = bisect.bisect_left(tails, -value)
        if k == len(tails):
            tails.append(-value)
        else:
            tails[k] = -value
        if k + 1 > best_length:
            best_end, best_length = i, k + 1
    return best_end - best_length + 1, best_end


@dataclass
class RangeTestResult:
    """What a range test saw: one entry per optimizer step.

    Attributes:
        lrs: the learning rate of each step.
        losses: the smoothed loss after each step (what the suggestions and :meth:`plot` use).
        raw_losses: the loss of each step before smoothing.
        mode: ``"exp"`` or ``"linear"``, the spacing of the learning rates.
        diverged: whether the sweep stopped early because the loss diverged.
        smooth: the moving average's weight of the newest loss (``1``: no smoothing).

    Example:
        >>> from optimkit.lr_finder import RangeTestResult
        >>> r = RangeTestResult(lrs=[1e-3, 1e-2, 1e-1, 1.0, 10.0], losses=[1.0, 0.98, 0.4, 0.35, 0.34])
        >>> r.suggestion(), r.suggestion("steepest"), r.suggestion("minimum")
        (0.1, 0.1, 1.0)
        >>> r.best_lr()
        10.0
        >>> RangeTestResult(lrs=[1e-7, 1e-6, 1e-5, 1e-4], losses=[2.3, 2.3, 2.3, 2.3]).suggestion()
        Traceback (most recent call last):
        ...
        optimkit.lr_finder.NoSuggestion: the loss did not move: from 2.3 to at best 2.3 (0.00% lower), within its batch-to-batch noise (±0); the learning rates swept (1e-07 to 0.0001) are too small to train with: raise end_lr
    """

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float] = field(default_factory=list)
    mode: str = "exp"
    diverged: bool = False
    smooth: float = 1.0

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

    def _window(self, skip_start: int, skip_end: int) -> tuple[list[int], float]:
        """The indices the suggestions may use and the loss the curve starts from (the median
        raw loss of its first tenth); raises :class:`NoSuggestion` for a curve that is too short,
        never moved, or only rose."""
        stop = len(self.losses) - skip_end
        window = [i for i in range(max(skip_start, 0), stop) if math.isfinite(self.losses[i])]
        if len(window) < 3:
            raise NoSuggestion(
                f"the range test has {len(window)} usable points; a suggestion needs at least 3 "
                "(raise num_iter, lower start_lr, or skip fewer points)", "few_points")
        raw = [self.raw_losses[i] for i in window] if len(self.raw_losses) == len(self.losses) else [self.losses[i] for i in window]
        head = raw[: max(1, len(raw) // 10)]
        start = statistics.median(v for v in head if math.isfinite(v)) if any(math.isfinite(v) for v in head) else self.losses[window[0]]
        low = min(self.losses[i] for i in window)
        noise = _noise(raw)
        # A fall counts when it is three times the noise of one step and 1 % of the loss: below
        # that, the "valley" and the "steepest descent" of a flat curve are noise.
        needed = max(3 * noise, 0.01 * abs(start), 1e-12)
        if start - low > needed:
            return window, start
        lrs = f"{self.lrs[window[0]]:.3g} to {self.lrs[window[-1]]:.3g}"
        if self.diverged or max(self.losses[i] for i in window) - start > needed:
            raise NoSuggestion(
                f"the loss never decreased: it rose from {start:.4g} right from the first learning rates, "
                f"so the ones swept ({lrs}) are already too large: lower start_lr", "rising")
        drop = 100 * (start - low) / abs(start) if start else 0.0
        raise NoSuggestion(
            f"the loss did not move: from {start:.4g} to at best {low:.4g} ({drop:.2f}% lower), within its "
            f"batch-to-batch noise (±{noise:.2g}); the learning rates swept ({lrs}) are too small to train "
            "with: raise end_lr", "flat")

    def suggest(self, method: Method = "valley", skip_start: int = 0, skip_end: int = 0) -> Suggestion:
        """A suggested learning rate by ``method`` (see the module's description), with where it
        was read.

        Args:
            method: ``"valley"`` (the default), ``"steepest"`` or ``"minimum"``.
            skip_start: ignore this many points at the start of the sweep.
            skip_end: ignore this many points at the end (e.g. the diverging tail).

        Raises:
            NoSuggestion: (a ``ValueError``) when fewer than three points remain, or the loss
                never fell by more than its noise; the message says why and what to change.
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        window, start = self._window(skip_start, skip_end)
        values = [self.losses[i] for i in window]
        lowest = window[min(range(len(values)), key=values.__getitem__)]
        if method == "minimum":
            lr = self.lrs[lowest] / 10
            x = math.log10(lr) if self.mode == "exp" and lr > 0 else lr
            nearest = min(window, key=lambda i: abs(self._x()[i] - x))
            return Suggestion(method, lr, nearest)
        if method == "valley":
            # Only past the point where the loss has made a twentieth of its fall. Before it, the
            # flat start would count as descent wherever the average sinks by a hair (fastai's
            # valley then picks the onset of the fall, and on a noise-free full-batch curve, whose
            # every step is a little lower, a learning rate far too small).
            low, lowest_at = values[window.index(lowest)], window.index(lowest)
            head = next((k for k, v in enumerate(values) if start - v >= (start - low) / 20), 0)
            begin, end = _longest_descent(values[head : lowest_at + 1])
            third = (end - begin) / 3
            # fastai's pick: a third plus a sixth, about half way down the longest descent.
            index = window[head + begin + int(third) + int(third / 2)]
            return Suggestion(method, self.lrs[index], index)
        # Steepest descent: only up to the minimum (a divergent tail can fall again), and past the
        # first twentieth of the sweep, where the average still rests on a few batches.
        slopes = self.slopes()
        first = window[0] + len(window) // 20
        candidates = [(slopes[i], i) for i in window if first <= i <= lowest and math.isfinite(slopes[i])]
        if not candidates or min(candidates)[0] >= 0:
            raise NoSuggestion("the loss never decreased before its minimum; lower start_lr or raise end_lr", "no_window")
        return Suggestion(method, self.lrs[min(candidates)[1]], min(candidates)[1])

    def suggestion(self, method: Method = "valley", skip_start: int = 0, skip_end: int = 0) -> float:
        """The suggested learning rate: ``suggest(...).lr``.

        Raises:
            NoSuggestion: see :meth:`suggest`.
        """
        return self.suggest(method, skip_start, skip_end).lr

    def suggestions(self, skip_start: int = 0, skip_end: int = 0) -> dict[str, Suggestion]:
        """Every method's suggestion, by method (those that have one).

        Raises:
            NoSuggestion: when the curve supports none (too short, flat, or only rising).
        """
        self._window(skip_start, skip_end)
        out = {}
        for method in METHODS:
            try:
                out[method] = self.suggest(method, skip_start, skip_end)
            except NoSuggestion:
                continue
        return out

    def best_lr(self) -> float:
        """The learning rate with the lowest smoothed loss (usually too large to train with)."""
        return self.lrs[min(range(len(self.losses)), key=self.losses.__getitem__)]

    def plot(
        self,
        path: str | Path | None = None,
        *,
        ax: Axes | None = None,
        mark_suggestion: bool = True,
        method: Method = "valley",
        title: str | None = None,
    ) -> Figure:
        """Plot the smoothed (and, faintly, the raw) loss against the learning rate.

        Args:
            path: where to save the figure as an image (PNG by the suffix); ``None`` to keep it.
            ax: draw into these axes instead of a new figure.
            mark_suggestion: mark the suggestion by ``method`` with a dot and a dashed line, named
                "(used)" in the legend, and the other methods' with small markers.
            method: the suggestion that is used.
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
                found = self.suggestions()
            except NoSuggestion:
                found = {}
            others = {"steepest": ("tab:orange", "v"), "minimum": ("tab:green", "s"), "valley": ("tab:purple", "D")}
            for name, pick in found.items():
                y = self.losses[pick.index]
                if name == method:
                    ax.axvline(pick.lr, color="tab:red", ls="--", lw=1)
                    ax.plot([pick.lr], [y], "o", color="tab:red", ms=7, zorder=5,
                            label=f"{pick.label} (used): lr = {pick.lr:.3g}")
                else:
                    color, marker = others[name]
                    ax.plot([pick.lr], [y], marker, color=color, ms=5, zorder=4, label=f"{pick.label}: lr = {pick.lr:.3g}")
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
        ax.legend(loc="best", fontsize=9)
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
    smooth: float | None = None,
    diverge: float = 5.0,
    val_data: Iterable[Any] | None = None,
    accumulation_steps: int = 1,
    progress: bool = False,
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
        smooth: the weight of the newest loss in the bias-corrected moving average, in
            ``(0, 1]``; ``1`` means no smoothing; ``None`` (default) is
            :func:`default_smoothing` of ``num_iter``, ``5 / num_iter``.
        diverge: stop when the smoothed loss exceeds this multiple of the best one (``> 1``).
        val_data: optional batches to evaluate after every step instead of the training loss.
        accumulation_steps: batches whose gradients are summed before each step.
        progress: show a tqdm progress bar (on stderr) with the current lr and loss.

    Returns:
        A :class:`RangeTestResult` with the learning rates and losses; call ``suggestion()``.

    Raises:
        ValueError: for arguments out of range or data that yields no batch.
    """
    if smooth is None:
        smooth = default_smoothing(num_iter) if isinstance(num_iter, int) else 0.05
    if not 0 < smooth <= 1:
        raise ValueError(f"smooth must be in (0, 1], got {smooth!r}")
    if not diverge > 1:
        raise ValueError(f"diverge must be greater than 1, got {diverge!r}")
    if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) or accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be a positive integer, got {accumulation_steps!r}")
    lr_schedule = sweep_schedule(start_lr, end_lr, num_iter, mode)
    from tqdm import tqdm

    snapshot = _Snapshot(model, optimizer)
    result = RangeTestResult(lrs=[], losses=[], raw_losses=[], mode=mode, smooth=smooth)
    keep = 1.0 - smooth
    average = 0.0
    bar = tqdm(total=num_iter, desc="lr range test", unit="step", disable=not progress, leave=True, dynamic_ncols=True)
    try:
        model.train()
        sweep = ParamScheduler(optimizer, lr_schedule, key="lr", relative=False)
        batches = _batches(train_data)
        best = math.inf
        for i in range(num_iter):
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
            # The same average as smooth_losses(), kept running for the divergence check.
            average = keep * average + smooth * raw
            smoothed = average / (1.0 - keep ** (i + 1))
            result.lrs.append(lr)
            result.raw_losses.append(raw)
            result.losses.append(smoothed)
            bar.update(1)
            bar.set_postfix(lr=f"{lr:.2e}", loss=f"{smoothed:.4f}", refresh=False)
            best = min(best, smoothed)
            if not math.isfinite(smoothed) or smoothed > diverge * best:
                result.diverged = True
                break
    finally:
        bar.close()
        snapshot.restore(model, optimizer)
    return result
