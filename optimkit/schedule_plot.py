"""Hyperparameter curves of a scheduler, from its closed forms, and their plots (``optimkit plot``).

:func:`curves` asks a scheduler for its closed forms: ``lr_at(step)`` for the learning rate,
``momentum_at(step)`` where a scheduler cycles the momentum (or ``betas[0]``), and
``values_at(step)`` of a :class:`~optimkit.optim.lr_scheduler.ParamScheduler` driving another
hyperparameter such as ``weight_decay``. A scheduler without a closed form (``SWALR``, or a chain
whose members do not multiply) is stepped instead on a throw-away copy built by the same factory.

Example:
    >>> from optimkit.schedule_plot import build_named, curves
    >>> opt, sched = build_named("onecycle", {"max_lr": 1.0, "total_steps": 10})
    >>> c = curves(lambda: build_named("onecycle", {"max_lr": 1.0, "total_steps": 10}), steps=10)
    >>> sorted(c.series), round(max(c.series["lr"]), 6), c.series["momentum"][0]
    (['lr', 'momentum'], 1.0, 0.95)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._binder import ArgumentError, Wording, bind

__all__ = [
    "Curves",
    "build_named",
    "curves",
    "default_length",
    "parse_value",
    "plot_curves",
    "resolve_scheduler",
    "sample_arguments",
    "scheduler_arguments",
]

Factory = Callable[[], tuple[torch.optim.Optimizer, Any]]
"""``() -> (optimizer, scheduler)``: builds a fresh pair every call."""


def resolve_scheduler(name: str) -> Any:
    """The registry spec of the scheduler called ``name``: case, ``-``/``_`` and a missing ``LR``
    suffix do not matter, and a unique prefix is enough. torch's names (:mod:`optimkit.optim`)
    come first; ``cerebras:NAME`` picks the Cerebras namespace, which is also searched when the
    name is not torch's.

    Raises:
        KeyError: for an unknown name, listing the closest registered ones.

    Example:
        >>> from optimkit.schedule_plot import resolve_scheduler
        >>> resolve_scheduler("onecycle").name, resolve_scheduler("cosine_annealing").name
        ('onecyclelr', 'cosineannealinglr')
        >>> spec = resolve_scheduler("CosineDecay")
        >>> spec.namespace, spec.cls.__name__
        ('cerebras', 'CosineDecayLR')
    """
    from .registry import SCHEDULERS

    return SCHEDULERS.resolve(name, suffixes=("lr",), unique_prefix=True, listing="see: optimkit list schedulers")


def parse_value(text: str) -> Any:
    """A command-line value typed like YAML: numbers, booleans, ``null``, lists; else the string.

    Unlike YAML 1.1, ``1e-3`` is a float (YAML wants ``1.0e-3``).

    Example:
        >>> from optimkit.schedule_plot import parse_value
        >>> [parse_value(t) for t in ["0.1", "1000", "1e-3", "true", "cos", "[30, 60]", "null"]]
        [0.1, 1000, 0.001, True, 'cos', [30, 60], None]
    """
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text

    def numeric(v: Any) -> Any:
        if isinstance(v, str):
            try:
                return int(v)
            except ValueError:
                pass
            try:
                return float(v)
            except ValueError:
                return v
        if isinstance(v, list):
            return [numeric(x) for x in v]
        return v

    return numeric(value)


def scheduler_arguments(cls: type) -> list[inspect.Parameter]:
    """The constructor arguments of a scheduler class after the optimizer (or ``schedulers``)."""
    params = list(inspect.signature(cls).parameters.values())
    return [p for p in params if p.name != "optimizer" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _placeholder_optimizer(lr: float = 0.1) -> torch.optim.Optimizer:
    """SGD with momentum on one parameter: every scheduler (also momentum-cycling ones) accepts it."""
    from .optim import SGD

    return SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)


# Values for required arguments, by argument *name* (never by scheduler), so that every scheduler
# in the registry, present or future, can be drawn with its defaults.
_SAMPLES: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
    "T_max": lambda opt: 100,
    "T_0": lambda opt: 25,
    "total_steps": lambda opt: 100,
    "total_iters": lambda opt: 100,
    "step_size": lambda opt: 30,
    "milestones": lambda opt: [30, 60, 80],
    "gamma": lambda opt: 0.96,
    "max_lr": lambda opt: 1.0,
    "base_lr": lambda opt: 0.1,
    "swa_lr": lambda opt: 0.01,
    "lr_lambda": lambda opt: (lambda step: 0.97**step),
    "schedule": lambda opt: _warmup_cosine(),
    # Cerebras' names (values of the hyperparameter itself: its schedulers are absolute).
    "initial_learning_rate": lambda opt: 0.1,
    "end_learning_rate": lambda opt: 0.001,
    "learning_rate": lambda opt: 0.1,
    "learning_rates": lambda opt: [0.1, 0.05, 0.01, 0.001],
    "decay_rate": lambda opt: 0.5,
    "step_exponent": lambda opt: 1.0,
    "coefficient": lambda opt: 0.96,
    "val": lambda opt: 0.01,
    "vals": lambda opt: [0.01, 0.005, 0.001, 0.0001],
    "initial_val": lambda opt: 0.01,
    "end_val": lambda opt: 0.0001,
    "base_val": lambda opt: 0.001,
    "max_val": lambda opt: 0.05,
    "val_lambda": lambda opt: (lambda step: 0.97**step),
}


def _sample_children(cls: type, optimizer: torch.optim.Optimizer, sequential: bool) -> list[Any] | None:
    """Two member schedulers for a composite of ``cls``'s namespace: a warmup and a decay."""
    from .registry import scheduler_specs

    spec = next((s for ns in ("optim", "cerebras") for s in scheduler_specs(ns) if s.cls is cls), None)
    if spec is None:
        return None
    if spec.namespace == "optim":
        from .registry import get_scheduler

        warm = get_scheduler("linearlr").cls(optimizer, start_factor=0.1, total_iters=20)
        if sequential:
            return [warm, get_scheduler("cosineannealinglr").cls(optimizer, T_max=80)]
        return [warm, get_scheduler("exponentiallr").cls(optimizer, gamma=0.97)]
    from .registry import get_scheduler

    wd = spec.name.endswith("wd")
    start, end = ("initial_val", "end_val") if wd else ("initial_learning_rate", "end_learning_rate")
    top = 0.01 if wd else 0.1
    linear = get_scheduler("linearwd" if wd else "linearlr", namespace="cerebras").cls
    cosine = get_scheduler("cosinedecaywd" if wd else "cosinedecaylr", namespace="cerebras").cls
    if sequential:
        return [linear(optimizer, **{start: 0.0, end: top, "total_iters": 20}),
                cosine(optimizer, **{start: top, end: top / 100, "total_iters": 80})]
    return [linear(optimizer, **{start: top, end: top, "total_iters": 20}),
            cosine(optimizer, **{start: top, end: top / 100, "total_iters": 100})]


def _warmup_cosine() -> Callable[[float], float]:
    from . import schedules

    return schedules.warmup(schedules.cosine(total_steps=80), warmup_steps=20)


def sample_arguments(cls: type, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Values for the required arguments of ``cls`` from the name-based samples, or ``None`` when
    some required argument has no sample (the scheduler is then not drawn by default).

    Arguments that take other schedulers (``SequentialLR``, ``ChainedScheduler``) get a linear
    warmup followed by a cosine, built from the registry.

    Example:
        >>> from optimkit.schedule_plot import sample_arguments, _placeholder_optimizer
        >>> from optimkit.optim.lr_scheduler import StepLR
        >>> sample_arguments(StepLR, _placeholder_optimizer())
        {'step_size': 30}
    """
    out: dict[str, Any] = {}
    names = {p.name for p in scheduler_arguments(cls)}
    for p in scheduler_arguments(cls):
        if p.default is None and p.name in _SAMPLES:
            # Optional in the signature but needed in practice (OneCycleLR's total_steps).
            out[p.name] = _SAMPLES[p.name](optimizer)
            continue
        if p.default is not p.empty:
            continue
        if p.name == "schedulers":
            children = _sample_children(cls, optimizer, sequential="milestones" in names)
            if children is None:
                return None
            out[p.name] = children
            if "milestones" in names:
                out["milestones"] = [20]
            continue
        if p.name in out:
            continue
        if p.name not in _SAMPLES:
            return None
        out[p.name] = _SAMPLES[p.name](optimizer)
    return out


# Arguments that set a schedule's length, and whether 0 is a valid value of theirs (ConstantLR's
# total_iters=0 applies its factor to no step at all; a step size of 0 is never meaningful).
_LENGTHS = {"step_size_up": False, "step_size_down": True, "total_steps": False, "epochs": False,
            "steps_per_epoch": False, "T_max": False, "T_0": False, "step_size": False, "total_iters": True,
            "decay_steps": False, "anneal_epochs": True}


def _check_lengths(kwargs: Mapping[str, Any]) -> None:
    """Raise a ValueError naming the first length argument that is not a valid integer length."""
    for key, zero_ok in _LENGTHS.items():
        value = kwargs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < (0 if zero_ok else 1):
            kind = "non-negative" if zero_ok else "positive"
            raise ValueError(f"{key} must be a {kind} integer, got {value!r}")


def default_length(kwargs: Mapping[str, Any], fallback: int = 100) -> int:
    """A number of steps that shows the shape set by ``kwargs`` (a cycle or a decay and a bit more).

    Raises:
        ValueError: naming the argument, when one that sets the length is negative, or zero where
            zero means nothing (``step_size=0``): the fault is that argument's, not the length's.

    Example:
        >>> from optimkit.schedule_plot import default_length
        >>> default_length({"total_steps": 1000}), default_length({"step_size_up": 50}), default_length({})
        (1000, 300, 100)
        >>> default_length({"step_size": -1})
        Traceback (most recent call last):
        ...
        ValueError: step_size must be a positive integer, got -1
    """
    _check_lengths(kwargs)
    if isinstance(kwargs.get("step_size_up"), int):
        down = kwargs.get("step_size_down") or kwargs["step_size_up"]
        return 3 * (kwargs["step_size_up"] + down)
    if isinstance(kwargs.get("total_steps"), int):
        return kwargs["total_steps"]
    if isinstance(kwargs.get("epochs"), int) and isinstance(kwargs.get("steps_per_epoch"), int):
        return kwargs["epochs"] * kwargs["steps_per_epoch"]
    lengths = [kwargs[k] for k in ("T_max", "total_iters", "decay_steps", "anneal_epochs") if isinstance(kwargs.get(k), int)]
    if isinstance(kwargs.get("T_0"), int):
        lengths.append(4 * kwargs["T_0"])
    if isinstance(kwargs.get("step_size"), int):
        lengths.append(4 * kwargs["step_size"])
    if isinstance(kwargs.get("milestones"), (list, tuple)) and kwargs["milestones"] and all(isinstance(m, int) for m in kwargs["milestones"]):
        lengths.append(max(kwargs["milestones"]) + 20)
    # A zero length (total_iters=0: nothing scheduled) shows nothing: the fallback does.
    lengths = [int(1.2 * n) for n in lengths if n > 0]
    return max(lengths) if lengths else fallback


# The wording of ``optimkit plot``'s messages, which name arguments rather than config keys.
_WORDING = Wording(
    unknown="{what} has no argument {key!r}{hint}; its arguments: {valid}",
    missing="{what} needs {missing} (e.g. {first}=...); its arguments: {signature}",
)


def build_named(
    name: str, kwargs: Mapping[str, Any], *, lr: float = 0.1, samples: bool = False
) -> tuple[torch.optim.Optimizer, Any]:
    """A scheduler from the registry by name and keyword arguments, on a placeholder optimizer
    (SGD with ``lr`` and momentum 0.9, so momentum-cycling schedulers work too).

    Args:
        name: a scheduler name (see :func:`resolve_scheduler`).
        kwargs: the scheduler's arguments.
        lr: the placeholder optimizer's learning rate (the base of relative schedulers).
        samples: fill missing required arguments from the name-based samples.

    Raises:
        KeyError: for an unknown scheduler name.
        TypeError: for an unknown or missing argument, with the valid ones named, or a value that
            is not of the argument's type (``max_lr='abc' is not a number``): an
            :class:`~optimkit._binder.ArgumentError`, which is also a ``ValueError``
            (:class:`~optimkit.config.ConfigError`). String numbers are read as in configs
            (``"1e-3"`` for a float).

    Example:
        >>> from optimkit.schedule_plot import build_named
        >>> build_named("steplr", {"step_size": "1e1"})[1].step_size
        10
        >>> build_named("onecycle", {"max_lr": "abc", "total_steps": 1000})
        Traceback (most recent call last):
        ...
        optimkit._binder.ArgumentError: OneCycleLR: max_lr='abc' is not a number
    """
    cls = resolve_scheduler(name).cls
    optimizer = _placeholder_optimizer(lr)
    given = dict(kwargs)
    if samples:
        # Only argument names are sampled, so an unknown key of the caller's is still found.
        given = {**(sample_arguments(cls, optimizer) or {}), **given}
    arguments = bind(cls, given, skip=("optimizer",), wording=_WORDING, error=ArgumentError)
    if "optimizer" in inspect.signature(cls).parameters:
        arguments["optimizer"] = optimizer
    return optimizer, cls(**arguments)


@dataclass
class Curves:
    """Hyperparameter values against the step.

    Attributes:
        steps: the steps, ``0 .. n-1`` (the value used by the optimizer's ``n``-th step).
        series: name (``"lr"``, ``"momentum"``, ``"beta1"``, ``"weight_decay"``, ...) -> values.
        closed_form: the names whose values came from closed forms (the rest were simulated).
        note: why the curves end before the requested number of steps, if they do.
    """

    steps: list[int]
    series: dict[str, list[float]]
    closed_form: set[str] = field(default_factory=set)
    note: str = ""

    def table(self, rows: int = 11) -> str:
        """The values at ``rows`` evenly spaced steps, as aligned text.

        Example:
            >>> from optimkit.schedule_plot import Curves
            >>> print(Curves([0, 1, 2], {"lr": [0.1, 0.05, 0.0]}).table(rows=2))
             step  lr
            -----  ----------
                0  0.1
                2  0
        """
        n = len(self.steps)
        picks = sorted({round(i * (n - 1) / max(rows - 1, 1)) for i in range(rows)}) if n else []
        names = list(self.series)
        cells = {k: [f"{self.series[k][i]:.6g}" for i in picks] for k in names}
        # Each column as wide as its widest value (-1.23457e-05 is 12 characters), at least 10.
        widths = [max(5, len(str(self.steps[-1])) if n else 1)]
        widths += [max(10, len(k), *(len(c) for c in cells[k])) for k in names]
        lines = ["  ".join([("step".rjust(widths[0]))] + [k.ljust(w) for k, w in zip(names, widths[1:])]).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        for row, i in enumerate(picks):
            line = [str(self.steps[i]).rjust(widths[0])] + [cells[k][row].ljust(w) for k, w in zip(names, widths[1:])]
            lines.append("  ".join(line).rstrip())
        return "\n".join(lines)


def _children(scheduler: Any) -> list[Any]:
    if scheduler is None:
        return []
    if isinstance(scheduler, (list, tuple)):
        return [s for s in scheduler if s is not None]
    return [scheduler]


def _momentum_name(scheduler: Any) -> str:
    return "beta1" if getattr(scheduler, "use_beta1", False) else "momentum"


def _param_key_name(key: str) -> str:
    return {"betas[0]": "beta1", "betas[1]": "beta2"}.get(key, key)


def _closed_forms(scheduler: Any) -> dict[str, Callable[[int], float]] | None:
    """name -> closed form of the first group's value, or ``None`` when some part has none."""
    forms: dict[str, Callable[[int], float]] = {}
    for sched in _children(scheduler):
        values_at = getattr(sched, "values_at", None)
        if values_at is not None and isinstance(values_at(0), dict):
            # Several hyperparameters, one scheduler each (Cerebras' CombinedScheduler).
            for key in values_at(0):
                forms[_param_key_name(key)] = (lambda k: lambda t: float(values_at(t)[k][0]))(key)
            for child in getattr(sched, "_schedulers", []):
                momentum_at = getattr(child, "momentum_at", None)
                if momentum_at is not None and momentum_at(0) is not None:
                    forms[_momentum_name(child)] = (lambda f: lambda t: float(f(t)[0]))(momentum_at)
            continue
        key = getattr(sched, "key", "lr") if hasattr(sched, "values_at") else "lr"
        if key != "lr":
            forms[_param_key_name(key)] = (lambda s: lambda t: float(s.values_at(t)[0]))(sched)
            continue
        lr_at = getattr(sched, "lr_at", None)
        if "lr" in forms or lr_at is None:
            return None
        try:
            lr_at(0)
        except NotImplementedError:  # no closed form (e.g. a chain whose members do not multiply)
            return None
        forms["lr"] = (lambda f: lambda t: float(f(t)[0]))(lr_at)
        momentum_at = getattr(sched, "momentum_at", None)
        if momentum_at is not None and momentum_at(0) is not None:
            forms[_momentum_name(sched)] = (lambda f: lambda t: float(f(t)[0]))(momentum_at)
    return forms


def _read(group: dict[str, Any], key: str) -> float | None:
    value = group.get(key)
    if key == "beta1":
        betas = group.get("betas")
        value = betas[0] if betas is not None else None
    if value is None or isinstance(value, bool):
        return None
    return float(value)


def _simulate(factory: Factory, steps: int) -> tuple[dict[str, list[float]], str]:
    """Step a fresh optimizer/scheduler pair and read the first group's values after each step."""
    optimizer, scheduler = factory()
    schedulers = _children(scheduler)
    keys = ["lr", "momentum", "beta1", "weight_decay"]
    series: dict[str, list[float]] = {k: [] for k in keys}
    note = ""
    for t in range(steps):
        if t:
            try:
                optimizer.step()
                for sched in schedulers:
                    sched.step()
            except TypeError as err:
                raise ValueError(f"{type(scheduler).__name__} is not stepped by the step count alone ({err}); it has no schedule to plot") from None
            except ValueError as err:
                note = f"stops at step {t}: {err}"
                break
        group = optimizer.param_groups[0]
        for k in keys:
            series[k].append(_read(group, k))  # type: ignore[arg-type]
    # Keep the learning rate, and the others only where something moves them.
    out = {"lr": series["lr"]}
    for k in keys[1:]:
        values = series[k]
        if values and None not in values and max(values) != min(values):
            out[k] = values
    return out, note


def curves(factory: Factory, steps: int) -> Curves:
    """The learning rate (and any other scheduled hyperparameter) of the first parameter group
    for steps ``0 .. steps-1``, from the closed forms, else by stepping a fresh pair.

    Args:
        factory: ``() -> (optimizer, scheduler)``; called once, and once more to simulate.
        steps: how many steps to compute (positive).

    Example:
        >>> from optimkit.schedule_plot import build_named, curves
        >>> c = curves(lambda: build_named("steplr", {"step_size": 2, "gamma": 0.5}, lr=1.0), 5)
        >>> c.series["lr"], c.closed_form
        ([1.0, 1.0, 0.5, 0.5, 0.25], {'lr'})
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    optimizer, scheduler = factory()
    forms = _closed_forms(scheduler) if scheduler is not None else None
    if forms and "lr" not in forms:
        # Only other hyperparameters are scheduled: the learning rate stays where it is.
        lr0 = _read(optimizer.param_groups[0], "lr")
        forms["lr"] = lambda t: lr0  # type: ignore[assignment,return-value]
    note = ""
    if forms and "lr" in forms:
        series: dict[str, list[float]] = {k: [] for k in ["lr", *sorted(k for k in forms if k != "lr")]}
        for t in range(steps):
            try:
                values = {k: forms[k](t) for k in series}
            except ValueError as err:
                note = f"stops at step {t}: {err}"
                break
            for k, v in values.items():
                series[k].append(v)
        closed = set(series)
    elif scheduler is None:
        lr = _read(optimizer.param_groups[0], "lr")
        series, closed = {"lr": [lr] * steps}, {"lr"}  # type: ignore[list-item]
    else:
        series, note = _simulate(factory, steps)
        closed = set()
    n = len(series["lr"])
    return Curves(steps=list(range(n)), series=series, closed_form=closed, note=note)


_LABELS = {
    "lr": "learning rate",
    "momentum": "momentum",
    "beta1": "beta1 (betas[0])",
    "beta2": "beta2 (betas[1])",
    "weight_decay": "weight decay",
}


def plot_curves(
    c: Curves,
    path: str | Path,
    *,
    title: str = "",
    log_lr: bool = False,
    size: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Path:
    """Draw each series of ``c`` in its own panel (shared step axis) and save the figure; a
    constant learning rate is left out when something else is scheduled.

    Args:
        c: from :func:`curves`.
        path: the image file to write (PNG by the suffix).
        title: the figure title.
        log_lr: a log scale for the learning rate.
        size: the figure size in inches (default: 7 wide, 2.4 per panel).
        dpi: dots per inch.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    names = list(c.series)
    if len(names) > 1 and len(set(c.series["lr"])) == 1:
        names.remove("lr")  # only other hyperparameters are scheduled: a flat lr panel says nothing
    fig, axes = plt.subplots(len(names), 1, sharex=True, squeeze=False,
                             figsize=size or (7.0, 0.6 + 2.4 * len(names)), dpi=dpi)
    for ax, name in zip(axes[:, 0], names):
        values = c.series[name]
        ax.plot(c.steps, values, color="tab:blue" if name == "lr" else "tab:orange", lw=1.8)
        ax.set_ylabel(_LABELS.get(name, name))
        ax.grid(True, alpha=0.3)
        if name == "lr" and log_lr and values and min(values) > 0:
            ax.set_yscale("log")
    axes[-1, 0].set_xlabel("step")
    if title:
        axes[0, 0].set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
