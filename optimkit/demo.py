"""The demo behind ``optimkit demo``: train a small network on scikit-learn's bundled digits with
several optimizer + scheduler configurations and compare them.

The data is ``sklearn.datasets.load_digits`` (1797 8x8 images shipped inside scikit-learn, so
nothing is downloaded), split 80/20 with the seed. Every configuration starts from the same
initial weights and sees the batches in the same order, so the differences come from the
optimizer and the schedule alone.

Example:
    >>> import torch
    >>> from optimkit.demo import TrainSettings, load_data, train
    >>> from optimkit.optim import SGD
    >>> data = load_data(seed=0)
    >>> data.x_train.shape, data.x_test.shape
    (torch.Size([1437, 64]), torch.Size([360, 64]))
    >>> run = train("sgd", lambda params: (SGD(params, lr=0.1, momentum=0.9), None), data,
    ...             TrainSettings(epochs=1, batch_size=64), progress=False)
    >>> len(run.losses) == len(run.lrs) == data.steps_per_epoch(64)
    True
    >>> run.test_accuracy > 0.5
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "DIGITS_TRAIN_SIZE",
    "DigitsData",
    "RunResult",
    "TrainSettings",
    "load_data",
    "make_model",
    "plot_runs",
    "results_table",
    "train",
]

DIGITS_TRAIN_SIZE = 1437
"""Training images after the 80/20 split of the 1797 digits (360 go to the test set), so that
step counts can be computed without loading scikit-learn."""

Builder = Callable[[Iterable[torch.nn.Parameter]], tuple[torch.optim.Optimizer, Any]]
"""``params -> (optimizer, scheduler or None or a list of schedulers)``."""


@dataclass(frozen=True)
class TrainSettings:
    """The ``train:`` section of a demo configuration.

    Attributes:
        epochs: passes over the training set.
        batch_size: examples per optimizer step (the last batch of an epoch may be smaller).
        seed: initial weights, the split and the batch order; ``None`` uses the command's seed.
        hidden: the widths of the hidden layers of the MLP.

    Example:
        >>> from optimkit.demo import TrainSettings
        >>> TrainSettings.from_dict({"epochs": 3}, default_seed=7)
        TrainSettings(epochs=3, batch_size=64, seed=7, hidden=(128,))
        >>> TrainSettings.from_dict({"epoch": 3})
        Traceback (most recent call last):
        ...
        ValueError: unknown key 'epoch' in the train section (did you mean 'epochs'?); valid keys: batch_size, epochs, hidden, seed
    """

    epochs: int = 20
    batch_size: int = 64
    seed: int | None = None
    hidden: tuple[int, ...] = (128,)

    @classmethod
    def from_dict(cls, section: dict[str, Any] | None, default_seed: int = 0) -> TrainSettings:
        """Validate a ``train:`` mapping; missing keys take the defaults, the seed ``default_seed``."""
        import difflib

        section = dict(section or {})
        valid = sorted(cls.__dataclass_fields__)
        for key in section:
            if key not in valid:
                close = difflib.get_close_matches(str(key), valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown key {key!r} in the train section{hint}; valid keys: {', '.join(valid)}")
        for key in ("epochs", "batch_size"):
            value = section.get(key, getattr(cls, key))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{key} must be a positive integer, got {value!r}")
        seed = section.get("seed", default_seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"train.seed must be an integer, got {seed!r}")
        hidden = section.get("hidden", cls.hidden)
        if isinstance(hidden, int):
            hidden = (hidden,)
        if not isinstance(hidden, (list, tuple)) or not all(isinstance(h, int) and h > 0 for h in hidden):
            raise ValueError(f"train.hidden must be a positive integer or a list of them, got {hidden!r}")
        return cls(
            epochs=section.get("epochs", cls.epochs),
            batch_size=section.get("batch_size", cls.batch_size),
            seed=seed,
            hidden=tuple(hidden),
        )


@dataclass(frozen=True)
class DigitsData:
    """The digits, as float32 features in ``[0, 1]`` and int64 labels, split into train and test."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps in one epoch (the last, smaller batch included)."""
        return math.ceil(len(self.x_train) / batch_size)

    def batches(self, batch_size: int, generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of shuffled training batches, in the order given by ``generator``."""
        order = torch.randperm(len(self.x_train), generator=generator)
        return [
            (self.x_train[idx], self.y_train[idx])
            for idx in (order[i : i + batch_size] for i in range(0, len(order), batch_size))
        ]


def load_data(seed: int = 0, test_fraction: float = 0.2) -> DigitsData:
    """scikit-learn's bundled digits, scaled to ``[0, 1]``, split with a stratified shuffle.

    Example:
        >>> from optimkit.demo import load_data
        >>> data = load_data()
        >>> float(data.x_train.max()), sorted(set(data.y_test.tolist())) == list(range(10))
        (1.0, True)
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )

    def features(a: Any) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32) / 16.0

    def labels(a: Any) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.int64)

    return DigitsData(features(x_train), labels(y_train), features(x_test), labels(y_test))


def make_model(hidden: Sequence[int] = (128,), seed: int = 0, in_features: int = 64, classes: int = 10) -> torch.nn.Module:
    """A multi-layer perceptron with ReLU, its weights drawn from ``seed`` (same seed, same net).

    Example:
        >>> import torch
        >>> from optimkit.demo import make_model
        >>> a, b = make_model(seed=3), make_model(seed=3)
        >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        True
    """
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[torch.nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, classes))
        return torch.nn.Sequential(*layers)
    finally:
        # Building the demo's model should not change the caller's random stream.
        torch.random.set_rng_state(generator_state)


@dataclass
class RunResult:
    """One trained configuration.

    Attributes:
        name: the configuration's name.
        losses: the training loss of every step (of its batch).
        lrs: the learning rate (first parameter group) used by every step.
        train_loss: the loss over the whole training set after training.
        test_accuracy: the fraction of test digits classified correctly.
        seconds: wall time of the training (data loading excluded).
        optimizer: the optimizer's class name.
        scheduler: the scheduler's class name(s), ``"-"`` without one.
    """

    name: str
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    train_loss: float = math.nan
    test_accuracy: float = math.nan
    seconds: float = 0.0
    optimizer: str = ""
    scheduler: str = "-"


def _as_list(scheduler: Any) -> list[Any]:
    if scheduler is None:
        return []
    if isinstance(scheduler, (list, tuple)):
        return [s for s in scheduler if s is not None]
    return [scheduler]


def _is_plateau(scheduler: Any) -> bool:
    # ReduceLROnPlateau (torch's or ours) wants a metric, once per epoch.
    return type(scheduler).__name__ == "ReduceLROnPlateau"


def _set_mode(optimizer: torch.optim.Optimizer, *, train: bool) -> None:
    """Put a schedule-free optimizer (one with ``train()`` and ``eval()``) in training or
    evaluation mode, so the parameters hold the point gradients are taken at or the average that
    is evaluated (see :mod:`optimkit.optim.schedule_free`); other optimizers have no modes."""
    switch = getattr(optimizer, "train" if train else "eval", None)
    if callable(switch) and callable(getattr(optimizer, "eval" if train else "train", None)):
        switch()


def _evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``x``, ``y``."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(F.cross_entropy(logits, y))
        accuracy = float((logits.argmax(dim=1) == y).float().mean())
    model.train()
    return loss, accuracy


class SchedulerRanOut(RuntimeError):
    """A scheduler refused to step because the training is longer than its schedule."""


def train(
    name: str,
    build: Builder,
    data: DigitsData,
    settings: TrainSettings,
    *,
    progress: bool = True,
) -> RunResult:
    """Train the demo MLP with the optimizer and scheduler(s) made by ``build(params)``.

    Every scheduler is stepped after every optimizer step (a ``ReduceLROnPlateau`` once per epoch
    with the epoch's mean loss). An optimizer with ``train()`` and ``eval()`` (schedule-free) is
    switched as the model is: to training mode before training, to evaluation mode for the final
    evaluation, and back to training mode after it; the learning rate recorded for it is the
    group's ``scheduled_lr`` (its built-in warmup) where it has one.

    Args:
        name: the configuration's name (progress bar and result).
        build: ``params -> (optimizer, scheduler)``; the scheduler may be ``None`` or a list.
        data: from :func:`load_data`.
        settings: epochs, batch size, seed and hidden widths.
        progress: show a tqdm progress bar on stderr.

    Raises:
        SchedulerRanOut: when a scheduler's schedule is shorter than the training.
    """
    from tqdm import tqdm

    seed = 0 if settings.seed is None else settings.seed
    model = make_model(settings.hidden, seed=seed)
    optimizer, scheduler = build(model.parameters())
    schedulers = _as_list(scheduler)
    result = RunResult(
        name=name,
        optimizer=type(optimizer).__name__,
        scheduler=" + ".join(type(s).__name__ for s in schedulers) or "-",
    )
    generator = torch.Generator().manual_seed(seed)
    steps = settings.epochs * data.steps_per_epoch(settings.batch_size)
    start = time.perf_counter()
    _set_mode(optimizer, train=True)
    with tqdm(total=steps, desc=f"{name:<24.24}", unit="step", disable=not progress, leave=True, dynamic_ncols=True) as bar:
        for _ in range(settings.epochs):
            epoch_losses = []
            for inputs, targets in data.batches(settings.batch_size, generator):
                lr = float(optimizer.param_groups[0]["lr"])
                loss = F.cross_entropy(model(inputs), targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                # A built-in warmup (schedule-free) leaves lr at the peak: record the rate used.
                lr = float(optimizer.param_groups[0].get("scheduled_lr", lr))
                for sched in schedulers:
                    if _is_plateau(sched):
                        continue
                    try:
                        sched.step()
                    except ValueError as err:
                        if "step" in str(err).lower():
                            raise SchedulerRanOut(
                                f"{name}: {type(sched).__name__} stopped at step {len(result.losses) + 1} of {steps} "
                                f"({err}); the train section asks for {settings.epochs} epochs x "
                                f"{data.steps_per_epoch(settings.batch_size)} steps = {steps} steps, so make the "
                                "schedule that long (e.g. total_steps)"
                            ) from None
                        raise
                value = float(loss.detach())
                result.losses.append(value)
                result.lrs.append(lr)
                epoch_losses.append(value)
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}", lr=f"{lr:.2e}", refresh=False)
            for sched in schedulers:
                if _is_plateau(sched):
                    sched.step(sum(epoch_losses) / len(epoch_losses))
    _set_mode(optimizer, train=False)  # evaluate the averaged weights (x), not y
    result.train_loss, _ = _evaluate(model, data.x_train, data.y_train)
    _, result.test_accuracy = _evaluate(model, data.x_test, data.y_test)
    _set_mode(optimizer, train=True)
    result.seconds = time.perf_counter() - start
    return result


def results_table(results: Sequence[RunResult]) -> str:
    """The comparison table printed by ``optimkit demo`` (the best test accuracy marked ``*``).

    Example:
        >>> from optimkit.demo import RunResult, results_table
        >>> print(results_table([RunResult("a", train_loss=0.1, test_accuracy=0.9, seconds=1.5,
        ...                                optimizer="SGD")]))
        config  optimizer  scheduler  final train loss  test accuracy  seconds
        ------  ---------  ---------  ----------------  -------------  -------
        a       SGD        -                    0.1000       90.00% *      1.5
    """
    header = ["config", "optimizer", "scheduler", "final train loss", "test accuracy", "seconds"]
    best = max((r.test_accuracy for r in results), default=math.nan)
    rows = [
        [
            r.name,
            r.optimizer,
            r.scheduler,
            f"{r.train_loss:.4f}",
            f"{100 * r.test_accuracy:.2f}%" + (" *" if r.test_accuracy == best else "  "),
            f"{r.seconds:.1f}",
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {3, 4, 5}

    def fmt(row: list[str]) -> str:
        cells = [cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def _ema(values: Sequence[float], weight: float = 0.1) -> list[float]:
    out: list[float] = []
    for v in values:
        out.append(v if not out else (1 - weight) * out[-1] + weight * v)
    return out


def plot_runs(results: Sequence[RunResult], path: str | Path, *, title: str = "optimkit demo: digits MLP") -> Path:
    """Write a PNG with the training-loss curves (left) and the learning rates (right).

    Args:
        results: the runs to draw, one colour each.
        path: the image file to write.
        title: the figure's title.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    for i, run in enumerate(results):
        color = f"C{i}"
        steps = range(1, len(run.losses) + 1)
        ax_loss.plot(steps, run.losses, color=color, alpha=0.2, lw=0.8)
        ax_loss.plot(steps, _ema(run.losses), color=color, lw=1.8,
                     label=f"{run.name} ({100 * run.test_accuracy:.1f}% test)")
        ax_lr.plot(steps, run.lrs, color=color, lw=1.8, label=run.name)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (batch; bold: moving average)")
    ax_loss.set_title("loss")
    ax_loss.grid(True, which="both", alpha=0.3)
    ax_loss.legend(loc="upper right", fontsize=9)
    positive = [lr for run in results for lr in run.lrs if lr > 0]
    if positive and max(positive) / min(positive) > 20:
        ax_lr.set_yscale("log")
        # The annealed tails go to ~0; keep them from flattening the interesting part.
        peaks = [max(run.lrs) for run in results if run.lrs and max(run.lrs) > 0]
        ax_lr.set_ylim(bottom=max(min(positive), min(peaks) / 1000))
    ax_lr.set_xlabel("step")
    ax_lr.set_ylabel("learning rate (first parameter group)")
    ax_lr.set_title("learning-rate schedule")
    ax_lr.grid(True, which="both", alpha=0.3)
    ax_lr.legend(loc="best", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
