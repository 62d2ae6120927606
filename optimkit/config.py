"""Configs (YAML files or dicts) -> ``(optimizer, scheduler)``.

Two styles are understood, told apart by the ``optimizer`` section:

**Cerebras style** (``optimizer_type``): everything lives in the ``optimizer`` section, as in
Cerebras' model zoo. ``learning_rate`` and ``weight_decay`` hold a number or a schedule (a dict
with a ``scheduler`` key, or a list of them run in sequence); ``adjust_learning_rate`` scales the
learning rate per parameter group (muP); every other key is an argument of the optimizer, built
by :func:`optimkit.cerebras.configure_optimizer`::

    optimizer:
      optimizer_type: AdamW
      weight_decay: 0.01            # or a schedule: {scheduler: CosineDecay, initial_val: ..., ...}
      learning_rate:
        - scheduler: Linear         # warmup
          initial_learning_rate: 0.0
          end_learning_rate: 1.0e-4
          total_iters: 1000
        - scheduler: CosineDecay
          initial_learning_rate: 1.0e-4
          end_learning_rate: 1.0e-6
          total_iters: 9000

The scheduler is :func:`~optimkit.cerebras.optim.scheduler_config.configure_lr_scheduler`'s (a
number gives a constant); when ``weight_decay`` is a schedule too, both are returned as one
:class:`~optimkit.cerebras.optim.lr_scheduler.CombinedScheduler` whose ``step()`` steps both.

**torch style** (``name``): the ``optimizer`` section names a registered optimizer
(:mod:`optimkit.optim`, case-insensitive) and gives its arguments; an optional top-level
``scheduler`` names a registered scheduler (:mod:`optimkit.optim.lr_scheduler`) and gives its
arguments (without the optimizer)::

    optimizer: {name: SGD, lr: 0.1, momentum: 0.9}
    scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 1000}

Schedulers that contain schedulers take them as a ``schedulers`` list of such dicts:
``{name: SequentialLR, milestones: [100], schedulers: [{name: LinearLR, ...}, {...}]}`` or
``{name: ChainedScheduler, schedulers: [...]}``. A bare list under ``scheduler`` is a
SequentialLR too: every item but the last carries ``steps: N``, the number of steps it runs (the
milestones are the running sums)::

    scheduler:
      - {name: LinearLR, start_factor: 0.01, total_iters: 100, steps: 100}
      - {name: CosineAnnealingLR, T_max: 900}

The top-level keys ``name``, ``description`` and ``train`` belong to the demo and are ignored
here; any other unknown key, at any level, is a ``ValueError`` (:class:`ConfigError`) that names
it, lists the valid keys, and for files gives the path and line. Only ``yaml.safe_load`` is used:
a config cannot construct Python objects.

Example:
    >>> import torch
    >>> from optimkit import config
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt, sched = config.load({"optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9},
    ...                           "scheduler": {"name": "StepLR", "step_size": 2, "gamma": 0.5}}, [w])
    >>> type(opt).__name__, type(sched).__name__, sched.lr_at(2)
    ('SGD', 'StepLR', [0.05])
    >>> curves = config.schedule_curves({"optimizer": {"optimizer_type": "SGD", "learning_rate": {
    ...     "scheduler": "Linear", "initial_learning_rate": 0.0, "end_learning_rate": 1.0, "total_iters": 4}}},
    ...     steps=6)
    >>> curves["lr"]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml

from .registry import get_optimizer, get_scheduler

__all__ = [
    "ConfigError",
    "RESERVED_KEYS",
    "VALID_KEYS",
    "read",
    "load",
    "build_optimizer",
    "build_scheduler",
    "load_scheduler_only",
    "schedule_curves",
]

RESERVED_KEYS = ("name", "description", "train")
"""Top-level keys read by the demo (``optimkit demo``) and ignored by :func:`load`."""

VALID_KEYS = ("optimizer", "scheduler") + RESERVED_KEYS
"""Every top-level key a config may have."""

_CEREBRAS_SCHEDULE_KEYS = ("learning_rate", "weight_decay", "adjust_learning_rate")
_PLOT_KEYS = ("lr", "weight_decay", "momentum", "betas[0]")


class ConfigError(ValueError):
    """A config that cannot be used: the message names the bad key and, for a file, where it is
    (``path:line: ...``)."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class _Source:
    """Where a config came from: the file (if any) and the line of each key, for messages."""

    def __init__(self, path: str | None = None, lines: dict[tuple[str, ...], int] | None = None) -> None:
        self.path = path
        self.lines = lines or {}

    def error(self, message: str, *where: str) -> ConfigError:
        """A :class:`ConfigError` prefixed with ``path:line:`` of the deepest known key."""
        if self.path is None:
            return ConfigError(message)
        for depth in range(len(where), 0, -1):
            line = self.lines.get(tuple(where[:depth]))
            if line is not None:
                return ConfigError(f"{self.path}:{line}: {message}")
        return ConfigError(f"{self.path}: {message}")


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line (1-based) of each mapping key down to depth 3, from YAML's node tree."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if len(prefix) >= 3 or not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                path = prefix + (str(key_node.value),)
                lines[path] = key_node.start_mark.line + 1
                walk(value_node, path)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], _Source]:
    if isinstance(source, Mapping):
        return dict(source), _Source()
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"a config is a path or a dict, got {type(source).__name__}")
    path = os.fspath(source)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys, got {type(data).__name__}")
    return data, _Source(path, _key_lines(text))


def read(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """The config as a dict, from a YAML file (``yaml.safe_load``) or a dict (copied), with its
    top-level keys checked.

    Raises:
        ConfigError: an unreadable file, invalid YAML (with line and column), or an unknown
            top-level key.

    Example:
        >>> from optimkit.config import read
        >>> read({"optimizer": {"name": "SGD", "lr": 0.1}, "name": "demo run"})["optimizer"]
        {'name': 'SGD', 'lr': 0.1}
    """
    data, src = _read(source)
    _check_top_level(data, src)
    return data


def _check_top_level(data: Mapping[str, Any], src: _Source) -> None:
    for key in data:
        if key not in VALID_KEYS:
            raise src.error(f"unknown top-level key {key!r}; valid keys: {', '.join(VALID_KEYS)}", str(key))


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def _coerce(name: str, value: Any, default: Any) -> Any:
    """YAML-friendly conversions: a string holding a number for a numeric argument (YAML reads
    ``1e-3`` as a string), a list for a tuple argument (``betas: [0.9, 0.99]``)."""
    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
    if isinstance(value, str) and (numeric or name in ("lr", "max_lr", "base_lr", "eta_min")):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a number") from None
    if isinstance(value, list) and isinstance(default, tuple):
        return tuple(value)
    return value


def _arguments(owner: str, cls: type, given: Mapping[str, Any], skip: Sequence[str]) -> dict[str, Any]:
    """``given`` checked against ``cls``'s constructor (every key known, every required key
    present), with YAML-friendly conversions."""
    parameters = inspect.signature(cls.__init__).parameters
    accepted = [n for n, p in parameters.items() if n not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for key in given:
        if key not in accepted:
            raise ValueError(f"{owner}: unknown key {key!r} for {cls.__name__}; valid keys: name, {', '.join(accepted)}")
    missing = [n for n in accepted if parameters[n].default is inspect.Parameter.empty and n not in given]
    if missing:
        raise ValueError(f"{owner}: {cls.__name__} is missing required key(s): {', '.join(missing)}")
    out = {}
    for key, value in given.items():
        try:
            out[key] = _coerce(key, value, parameters[key].default)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
    return out


def _lookup_name(owner: str, spec: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(spec, Mapping):
        raise ValueError(f"{owner} must be a mapping with a 'name' key, got {spec!r}")
    spec = dict(spec)
    if "name" not in spec:
        raise ValueError(f"{owner}: missing the 'name' key (the class to build) in {spec!r}")
    name = spec.pop("name")
    if not isinstance(name, str):
        raise ValueError(f"{owner}: 'name' must be a string, got {name!r}")
    return name, spec


def _torch_optimizer(section: Mapping[str, Any], params: Any) -> torch.optim.Optimizer:
    name, rest = _lookup_name("optimizer", section)
    try:
        cls = get_optimizer(name).cls
    except KeyError as exc:
        raise ValueError(f"optimizer: {exc.args[0]}") from None
    return cls(params, **_arguments("optimizer", cls, rest, ("self", "params")))


def _torch_scheduler(optimizer: torch.optim.Optimizer, spec: Any, owner: str = "scheduler") -> Any:
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return _torch_sequence(optimizer, list(spec), owner)
    name, rest = _lookup_name(owner, spec)
    try:
        cls = get_scheduler(name).cls
    except KeyError as exc:
        raise ValueError(f"{owner}: {exc.args[0]}") from None
    parameters = inspect.signature(cls.__init__).parameters
    if "schedulers" in parameters:
        children_spec = rest.pop("schedulers", None)
        if not isinstance(children_spec, Sequence) or isinstance(children_spec, str) or not children_spec:
            raise ValueError(f"{owner}: {cls.__name__} needs a non-empty 'schedulers' list of scheduler dicts")
        children = [_torch_scheduler(optimizer, c, f"{owner}.schedulers[{i}]") for i, c in enumerate(children_spec)]
        arguments = _arguments(owner, cls, rest, ("self", "optimizer", "schedulers"))
        if "optimizer" in parameters and list(parameters).index("optimizer") < list(parameters).index("schedulers"):
            return cls(optimizer, children, **arguments)
        return cls(children, **arguments)
    return cls(optimizer, **_arguments(owner, cls, rest, ("self", "optimizer")))


def _torch_sequence(optimizer: torch.optim.Optimizer, items: list[Any], owner: str) -> Any:
    if not items:
        raise ValueError(f"{owner}: an empty list of schedulers")
    milestones: list[int] = []
    specs = []
    total = 0
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"{owner}[{i}] must be a mapping with a 'name' key, got {item!r}")
        item = dict(item)
        steps = item.pop("steps", None)
        if i < len(items) - 1:
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
                raise ValueError(
                    f"{owner}[{i}]: every scheduler but the last in a list needs 'steps: N' (how many steps it "
                    f"runs before the next one starts), got {steps!r}"
                )
            total += steps
            milestones.append(total)
        elif steps is not None:
            raise ValueError(f"{owner}[{i}]: the last scheduler in a list runs to the end; remove 'steps'")
        specs.append(item)
    children = [_torch_scheduler(optimizer, spec, f"{owner}[{i}]") for i, spec in enumerate(specs)]
    if len(children) == 1:
        return children[0]
    return get_scheduler("SequentialLR").cls(optimizer, children, milestones)


def _is_cerebras(section: Mapping[str, Any]) -> bool:
    if "optimizer_type" in section and "name" in section:
        raise ValueError("optimizer: give either 'optimizer_type' (Cerebras style) or 'name' (torch style), not both")
    if "optimizer_type" not in section and "name" not in section:
        raise ValueError(
            "optimizer: missing 'optimizer_type' (Cerebras style) or 'name' (torch style): which optimizer to build"
        )
    return "optimizer_type" in section


def _cerebras(section: Mapping[str, Any], params: Any) -> tuple[torch.optim.Optimizer, Any]:
    from .cerebras.optim.configure import configure_optimizer
    from .cerebras.optim.lr_scheduler import CombinedScheduler
    from .cerebras.optim.scheduler_config import configure_lr_scheduler, configure_weight_decay_scheduler

    kwargs = dict(section)
    optimizer_type = kwargs.pop("optimizer_type")
    adjust = kwargs.pop("adjust_learning_rate", None)
    optimizer = configure_optimizer(optimizer_type, params, **kwargs)
    lr = configure_lr_scheduler(optimizer, kwargs.get("learning_rate"), adjust)
    wd = configure_weight_decay_scheduler(optimizer, kwargs.get("weight_decay"))
    if lr is not None and wd is not None:
        return optimizer, CombinedScheduler([lr, wd])
    return optimizer, lr if lr is not None else wd


def _key_in_message(message: str, section: Any) -> str | None:
    """The key of ``section`` that an error message is about: its leading ``key:`` / ``key[i]:``
    (scheduler factories) or the first quoted key (``unknown key 'foo'``)."""
    if not isinstance(section, Mapping):
        return None
    head = re.split(r"[:\[.]", message, maxsplit=1)[0]
    if head in section:
        return head
    for quoted in re.findall(r"'([^']+)'", message):
        if quoted in section:
            return quoted
    return None


def build_optimizer(
    config: Mapping[str, Any], params: Iterable[torch.Tensor] | Iterable[dict[str, Any]]
) -> tuple[torch.optim.Optimizer, Any]:
    """The optimizer of a config dict (already read), with the scheduler the ``optimizer``
    section itself describes (Cerebras style; ``None`` in torch style).

    Raises:
        ValueError: for a bad ``optimizer`` section.
    """
    section = config.get("optimizer")
    if section is None:
        raise ValueError("missing the 'optimizer' section")
    if not isinstance(section, Mapping):
        raise ValueError(f"optimizer must be a mapping, got {section!r}")
    if _is_cerebras(section):
        return _cerebras(section, params)
    return _torch_optimizer(section, params), None


def build_scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer) -> Any:
    """The scheduler of a config's top-level ``scheduler`` section on ``optimizer`` (``None``
    when there is none); see the module docstring for the forms.

    Raises:
        ValueError: for an unknown scheduler name or key, or a missing required key.
    """
    spec = config.get("scheduler")
    if spec is None:
        return None
    return _torch_scheduler(optimizer, spec)


def load(
    source: str | os.PathLike[str] | Mapping[str, Any],
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
) -> tuple[torch.optim.Optimizer, Any]:
    """Build ``(optimizer, scheduler)`` from a YAML file or a dict (either style; see the module
    docstring). ``scheduler`` is ``None`` when the config schedules nothing.

    Raises:
        ConfigError: (a ``ValueError``) naming the bad key, and for a file its path and line;
            also for an unknown optimizer or scheduler name, with close matches.

    Example:
        >>> import torch
        >>> from optimkit.config import load
        >>> model = torch.nn.Linear(2, 1)
        >>> opt, sched = load({"optimizer": {"optimizer_type": "AdamW", "learning_rate": 1e-3,
        ...                                  "weight_decay": 0.01}}, model.parameters())
        >>> type(opt).__name__, type(sched).__name__, sched.get_last_lr()
        ('AdamW', 'ConstantLR', [0.001])
        >>> load({"optimizer": {"name": "SGD", "lr": 0.1}, "schedule": None}, model.parameters())
        Traceback (most recent call last):
        ...
        optimkit.config.ConfigError: unknown top-level key 'schedule'; valid keys: optimizer, scheduler, name, description, train
    """
    data, src = _read(source)
    _check_top_level(data, src)
    try:
        optimizer, own = build_optimizer(data, params)
    except (ValueError, TypeError) as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        key = _key_in_message(message, data.get("optimizer"))
        raise src.error(message, *(("optimizer", key) if key else ("optimizer",))) from None
    if data.get("scheduler") is not None and own is not None:
        raise src.error(
            "scheduler: the optimizer section already schedules the learning rate (learning_rate / "
            "weight_decay hold a schedule or a number); give the schedule in one place",
            "scheduler",
        )
    try:
        scheduler = build_scheduler(data, optimizer)
    except (ValueError, TypeError) as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        raise src.error(message, "scheduler") from None
    return optimizer, scheduler if scheduler is not None else own


def load_scheduler_only(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[torch.optim.Optimizer, Any]:
    """:func:`load` on a one-element dummy parameter: the optimizer and scheduler of a config
    without a model, for plotting schedules."""
    return load(source, [torch.nn.Parameter(torch.zeros(1))])


def _scalar(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def _hyper(group: Mapping[str, Any], key: str) -> float | None:
    if key == "betas[0]":
        betas = group.get("betas")
        return None if betas is None else _scalar(betas[0])
    value = group.get(key)
    return None if value is None or isinstance(value, bool) else _scalar(value)


def schedule_curves(source: str | os.PathLike[str] | Mapping[str, Any], steps: int) -> dict[str, list[float]]:
    """The values of the scheduled hyperparameters at steps ``0 .. steps-1`` (first parameter
    group), by stepping the config's optimizer and scheduler on a dummy parameter.

    ``"lr"`` is always present; ``"weight_decay"``, ``"momentum"`` and ``"betas[0]"`` only when
    they change. A scheduler that cannot step further (torch's ``OneCycleLR`` past
    ``total_steps``) ends the curves there.

    Raises:
        ConfigError: as :func:`load`; ValueError for ``steps < 1``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    optimizer, scheduler = load_scheduler_only(source)
    group = optimizer.param_groups[0]
    keys = [k for k in _PLOT_KEYS if _hyper(group, k) is not None]
    curves: dict[str, list[float]] = {k: [] for k in keys}
    for t in range(steps):
        for k in keys:
            curves[k].append(_hyper(group, k))  # type: ignore[arg-type]
        if t == steps - 1 or scheduler is None:
            continue
        optimizer.step()
        try:
            scheduler.step()
        except (ValueError, TypeError):
            break
    return {k: v for k, v in curves.items() if k == "lr" or len(set(v)) > 1}
