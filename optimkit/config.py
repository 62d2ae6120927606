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
it, suggests the closest valid key and lists them all. Every section is checked and coerced by
one binder (:func:`optimkit._binder.bind`): YAML 1.1's ``1e-3`` (a string) is read as a number
where the argument is numeric, a list as a tuple where it is a tuple. A :class:`ConfigError`
carries the key path of the bad value (``error.path == ("scheduler", "schedulers", 1,
"T_max")``); for a file its message starts with ``path:line:``, the line of the deepest key of
that path. The error raised is the first mistake in file order (for a dict, key order): after
one, each bad key is left out in turn and the config built again, the further mistakes going to
``error.others``. Only ``yaml.safe_load`` is used: a config cannot construct Python objects.

A scheduled optimizer's parameter groups gain ``initial_lr`` (``initial_weight_decay`` for a
weight-decay schedule): torch's schedulers record there the value a schedule started from
(``group.setdefault("initial_lr", lr)``), which resuming from a step count needs. In Cerebras
style the optimizer is built with a placeholder for a scheduled value; the record is set to the
schedule's value at step 0, a value the file gave.

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

from ._binder import (
    ArgumentError,
    ConfigError,
    KeyPath,
    Wording,
    bind,
    check_keys,
    coerce,
    construct,
    render_path,
    unknown_name,
)
from .optim._validation import argument_problems, capturable_devices
from .registry import OPTIMIZERS, SCHEDULERS, UnknownNameError
from .sparsity._config import attach_section as attach_sparsity
from .sparsity._config import dry_run as sparsity_dry_run

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

VALID_KEYS = ("optimizer", "scheduler") + RESERVED_KEYS + ("sparsity",)
"""Every top-level key a config may have (``sparsity``: :mod:`optimkit.sparsity`'s mapping)."""

_PLOT_KEYS = ("lr", "weight_decay", "momentum", "betas[0]")

# The torch-style sections keep the wording of their messages from before the binder.
_TORCH_WORDING = Wording(unknown="{at}unknown key {key!r} for {what}; valid keys: {valid}{hint}")
_TOP_LEVEL_WORDING = Wording(unknown="unknown top-level key {key!r}; valid keys: {valid}{hint}")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


class _Source:
    """Where a config came from: the file (if any) and the line of each key path, for messages."""

    def __init__(self, path: str | None = None, lines: dict[KeyPath, int] | None = None) -> None:
        self.path = path
        self.lines = lines or {}

    def locate(self, error: ConfigError) -> ConfigError:
        """``error`` prefixed with ``path:line:`` of the deepest key of its path found in the
        file (a key the file lacks, such as a missing one, falls back to its parent)."""
        if self.path is None:
            return error
        return error.at(self.path, self.line_of(error.path))

    def line_of(self, path: KeyPath) -> int | None:
        """The line of the deepest key of ``path`` found in the file (None for a dict)."""
        for depth in range(len(path), 0, -1):
            line = self.lines.get(path[:depth])
            if line is not None:
                return line
        return None


def _key_lines(text: str) -> dict[KeyPath, int]:
    """Line (1-based) of every mapping key and list item, at any depth, from YAML's node tree.

    A path is the tuple of keys (``str``) and list indices (``int``) from the top, as in
    :attr:`ConfigError.path`; a list item's line is where the item starts.

    Example:
        >>> lines = _key_lines("scheduler:\\n  schedulers:\\n    - {name: A}\\n    - name: B\\n      T_max: 3\\n")
        >>> lines[("scheduler", "schedulers", 1)], lines[("scheduler", "schedulers", 1, "T_max")]
        (4, 5)
    """
    lines: dict[KeyPath, int] = {}

    def walk(node: yaml.Node, prefix: KeyPath, seen: frozenset[int]) -> None:
        if id(node) in seen:  # an alias that contains itself
            return
        seen = seen | {id(node)}
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    path = prefix + (str(key_node.value),)
                    lines.setdefault(path, key_node.start_mark.line + 1)
                    walk(value_node, path, seen)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                path = prefix + (index,)
                lines.setdefault(path, item.start_mark.line + 1)
                walk(item, path, seen)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, (), frozenset())
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
    try:
        check_keys(data, VALID_KEYS, wording=_TOP_LEVEL_WORDING)
    except ConfigError as exc:
        raise src.locate(exc) from None


# --------------------------------------------------------------------------------------------
# Building (torch style)
# --------------------------------------------------------------------------------------------


def _lookup_name(path: KeyPath, spec: Any) -> tuple[str, dict[str, Any]]:
    owner = render_path(path)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{owner} must be a mapping with a 'name' key, got {spec!r}", path=path)
    spec = dict(spec)
    if "name" not in spec:
        raise ConfigError(f"{owner}: missing the 'name' key (the class to build) in {spec!r}", path=path)
    name = spec.pop("name")
    if not isinstance(name, str):
        raise ConfigError(f"{owner}: 'name' must be a string, got {name!r}", path=path + ("name",))
    return name, spec


def _resolve(kind: str, name: str, path: KeyPath) -> type:
    """The torch-style (``optim`` namespace) class called ``name``; an unknown name is an error
    at the ``name`` key, with the registry's suggestions."""
    registry = OPTIMIZERS if kind == "optimizer" else SCHEDULERS
    try:
        return registry.resolve(name, ["optim"]).cls
    except UnknownNameError as exc:
        raise unknown_name(exc, path + ("name",), prefix=f"{render_path(path)}: ") from None


def _check_arguments(cls: type, arguments: Mapping[str, Any], path: KeyPath) -> None:
    """A ConfigError at the first argument whose value is not of the type its annotation names
    (a bool is no number, ``betas`` needs two entries) or is a number that is not finite: a
    config says what it means, also where torch's constructor would accept the value and fail
    at the first step (``weight_decay: true``)."""
    problems = argument_problems(cls, arguments, finite=True)
    if problems:
        problem = problems[0]
        error = ArgumentError if problem.error is TypeError else ConfigError
        raise error(f"{render_path(path)}: {cls.__name__}: {problem.message}", path=path + (problem.name,))


# Arguments that torch's classes accept at any value but use as a divisor or a length (a zero is
# a ZeroDivisionError or an IndexError at the first step, or at construction): a config must give
# them a positive value.
_POSITIVE: dict[str, tuple[str, ...]] = {
    "StepLR": ("step_size",),
    "CosineAnnealingLR": ("T_max",),
    "CyclicLR": ("step_size_up",),
    "OneCycleLR": ("div_factor", "final_div_factor"),
    "LBFGS": ("history_size",),
}


# Arguments torch's classes take as any string and refuse at the first step unless it is one of these.
_CHOICES: dict[str, dict[str, tuple[Any, ...]]] = {
    "LBFGS": {"line_search_fn": (None, "strong_wolfe")},
}


def _check_values(cls: type, arguments: Mapping[str, Any], path: KeyPath) -> None:
    """The values of _CHOICES and _POSITIVE that torch's classes only refuse at the first step."""
    if not cls.__module__.startswith("optimkit.optim"):
        return
    for key, choices in _CHOICES.get(cls.__name__, {}).items():
        if key in arguments and arguments[key] not in choices:
            raise ConfigError(f"{render_path(path)}: {cls.__name__}: {key} must be one of "
                              f"{', '.join(map(repr, choices))}, got {arguments[key]!r}", path=path + (key,))
    for key in _POSITIVE.get(cls.__name__, ()):
        value = arguments.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise ConfigError(f"{render_path(path)}: {cls.__name__}: {key} must be > 0 (it is a divisor or a length), "
                              f"got {value!r}", path=path + (key,))


def _parameters_of(params: Any) -> list[torch.Tensor]:
    """The tensors of ``params`` (tensors, groups or named pairs) when it is a list or tuple
    (another iterable, a generator, is not consumed here: nothing is checked)."""
    if not isinstance(params, (list, tuple)):
        return []
    tensors: list[torch.Tensor] = []
    for item in params:
        if isinstance(item, Mapping):
            group = item.get("params", [])
            if isinstance(group, torch.Tensor):
                tensors.append(group)
            elif isinstance(group, (list, tuple)):
                tensors += [t[1] if isinstance(t, tuple) else t for t in group]
        elif isinstance(item, tuple) and len(item) == 2:
            tensors.append(item[1])
        else:
            tensors.append(item)
    return [t for t in tensors if isinstance(t, torch.Tensor)]


def _check_flags(cls: type, arguments: Mapping[str, Any], tensors: list[torch.Tensor], path: KeyPath) -> None:
    """What a constructor accepts but the first step of a model's parameters would refuse with a
    RuntimeError or an AssertionError (torch's behaviour too): said here, at the key."""
    def fail(key: str, message: str) -> None:
        where = f"{render_path(path)}: " if path else ""
        raise ConfigError(f"{where}{cls.__name__}: {message}", path=path + (key,))

    if arguments.get("differentiable") is True and arguments.get("foreach") is True:
        fail("foreach", "foreach=True cannot be combined with differentiable=True (torch's foreach kernels do "
                        "not support autograd)")
    if arguments.get("differentiable") is True and any(t.is_leaf and t.requires_grad for t in tensors):
        fail("differentiable", "differentiable=True updates the parameters in place with autograd recording, which "
                               "torch refuses for leaf tensors that require grad (a model's parameters)")
    if arguments.get("capturable") is True:
        devices = capturable_devices()
        if any(t.device.type not in devices for t in tensors):
            found = sorted({t.device.type for t in tensors if t.device.type not in devices})
            fail("capturable", f"capturable=True needs the parameters on one of {devices}, found {found}")
    dtypes = [t.dtype for t in tensors if t.is_floating_point()]
    if dtypes:
        limit = min(torch.finfo(dtype).max for dtype in dtypes)
        taken = set(inspect.signature(cls.__init__).parameters) | {"learning_rate"}
        for key, value in arguments.items():
            if key not in taken:
                continue  # not an argument: the binder names it
            numbers = value if isinstance(value, (tuple, list)) else (value,)
            for number in numbers:
                if isinstance(number, (int, float)) and not isinstance(number, bool) and abs(number) > limit:
                    fail(key, f"{key}={value!r} is beyond the range of the parameters' dtype "
                              f"({min(dtypes, key=lambda d: torch.finfo(d).max)}, largest {limit:.4g})")


def _torch_optimizer(section: Mapping[str, Any], params: Any) -> torch.optim.Optimizer:
    path: KeyPath = ("optimizer",)
    name, rest = _lookup_name(path, section)
    cls = _resolve("optimizer", name, path)
    arguments = bind(cls, rest, skip=("params",), consumed=("name",), path=path, wording=_TORCH_WORDING)
    _check_arguments(cls, arguments, path)
    _check_values(cls, arguments, path)
    _check_flags(cls, arguments, _parameters_of(params), path)
    return cls(params, **arguments)


def _torch_scheduler(optimizer: torch.optim.Optimizer, spec: Any, path: KeyPath = ("scheduler",)) -> Any:
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return _torch_sequence(optimizer, list(spec), path)
    name, rest = _lookup_name(path, spec)
    cls = _resolve("scheduler", name, path)
    parameters = list(inspect.signature(cls.__init__).parameters)
    if "schedulers" not in parameters:
        arguments = bind(cls, rest, skip=("optimizer",), consumed=("name",), path=path, wording=_TORCH_WORDING)
        _check_arguments(cls, arguments, path)
        _check_values(cls, arguments, path)
        return construct(cls, optimizer, path=path, **arguments)
    children_spec = rest.pop("schedulers", None)
    arguments = bind(cls, rest, skip=("optimizer", "schedulers"), consumed=("name", "schedulers"), path=path,
                     wording=_TORCH_WORDING)
    _check_arguments(cls, arguments, path)
    if not isinstance(children_spec, Sequence) or isinstance(children_spec, str) or not children_spec:
        raise ConfigError(f"{render_path(path)}: {cls.__name__} needs a non-empty 'schedulers' list of scheduler dicts",
                          path=path + ("schedulers",) if children_spec is not None else path)
    children = [_torch_scheduler(optimizer, c, path + ("schedulers", i)) for i, c in enumerate(children_spec)]
    if "optimizer" in parameters and parameters.index("optimizer") < parameters.index("schedulers"):
        return construct(cls, optimizer, children, path=path, **arguments)
    return construct(cls, children, path=path, **arguments)


def _torch_sequence(optimizer: torch.optim.Optimizer, items: list[Any], path: KeyPath) -> Any:
    owner = render_path(path)
    if not items:
        raise ConfigError(f"{owner}: an empty list of schedulers", path=path)
    milestones: list[int] = []
    specs = []
    total = 0
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{owner}[{i}] must be a mapping with a 'name' key, got {item!r}", path=path + (i,))
        item = dict(item)
        if i < len(items) - 1 and item.get("steps") is None:
            _check_item_keys(item, path + (i,))
        where = path + (i, "steps") if "steps" in item else path + (i,)
        steps = item.pop("steps", None)
        if i < len(items) - 1:
            steps = coerce(steps, int, path=where) if isinstance(steps, str) else steps
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
                raise ConfigError(
                    f"{owner}[{i}]: every scheduler but the last in a list needs 'steps: N' (how many steps it "
                    f"runs before the next one starts), got {steps!r}",
                    path=where,
                )
            total += steps
            milestones.append(total)
        elif steps is not None:
            raise ConfigError(f"{owner}[{i}]: the last scheduler in a list runs to the end; remove 'steps'", path=where)
        specs.append(item)
    children = [_torch_scheduler(optimizer, spec, path + (i,)) for i, spec in enumerate(specs)]
    if len(children) == 1:
        return children[0]
    return construct(SCHEDULERS.resolve("SequentialLR", ["optim"]).cls, optimizer, children, milestones, path=path)


def _check_item_keys(item: Mapping[str, Any], path: KeyPath) -> None:
    """A list item without ``steps``: a misspelt key (``stpes``) or a wrong name is the mistake
    to report, not the missing ``steps`` it causes (a missing argument is reported later)."""
    try:
        name, rest = _lookup_name(path, item)
        rest.pop("steps", None)
        cls = _resolve("scheduler", name, path)
        if "schedulers" not in inspect.signature(cls.__init__).parameters:
            bind(cls, rest, skip=("optimizer",), consumed=("name", "steps"), path=path, wording=_TORCH_WORDING)
    except ConfigError as exc:
        if exc.path != path:
            raise


# --------------------------------------------------------------------------------------------
# Building (Cerebras style)
# --------------------------------------------------------------------------------------------


def _is_cerebras(section: Mapping[str, Any]) -> bool:
    if "optimizer_type" in section and "name" in section:
        raise ConfigError("optimizer: give either 'optimizer_type' (Cerebras style) or 'name' (torch style), not both",
                          path=("optimizer", "name"))
    if "optimizer_type" not in section and "name" not in section:
        raise ConfigError(
            "optimizer: missing 'optimizer_type' (Cerebras style) or 'name' (torch style): which optimizer to build",
            path=("optimizer",),
        )
    return "optimizer_type" in section


def _cerebras(section: Mapping[str, Any], params: Any) -> tuple[torch.optim.Optimizer, Any]:
    from .cerebras.optim.configure import _is_schedule, configure_optimizer, optimizer_class
    from .cerebras.optim.lr_scheduler import CombinedScheduler
    from .cerebras.optim.scheduler_config import configure_lr_scheduler, configure_weight_decay_scheduler

    kwargs = dict(section)
    optimizer_type = kwargs.pop("optimizer_type")
    adjust = kwargs.pop("adjust_learning_rate", None)
    try:
        optimizer_class(optimizer_type)  # an unknown name is an error at its own key
    except UnknownNameError as exc:
        raise unknown_name(exc, ("optimizer", "optimizer_type")) from None
    except ConfigError as exc:  # not a string
        raise exc.within("optimizer")._evolve(message=f"optimizer.{exc.message}") from None
    try:
        # The Cerebras factories report key paths inside the section; put them under it.
        _check_flags(optimizer_class(optimizer_type), kwargs, _parameters_of(params), ())
        optimizer = configure_optimizer(optimizer_type, params, **kwargs)
        lr = configure_lr_scheduler(optimizer, kwargs.get("learning_rate"), adjust)
        wd = configure_weight_decay_scheduler(optimizer, kwargs.get("weight_decay"))
    except ConfigError as exc:
        raise exc.within("optimizer") from None
    # A scheduled value was built with a placeholder (the constructor's default), which the
    # scheduler noted as the group's initial_lr / initial_weight_decay (torch's record of the
    # value a schedule started from, kept for resuming): the schedule's step 0 is what it means.
    if lr is not None and _is_schedule(kwargs.get("learning_rate")):
        _note_initial(optimizer, "initial_lr", lr.lr_at(0))
    if wd is not None:
        _note_initial(optimizer, "initial_weight_decay", wd.values_at(0))
    if lr is not None and wd is not None:
        return optimizer, CombinedScheduler([lr, wd])
    return optimizer, lr if lr is not None else wd


def _note_initial(optimizer: torch.optim.Optimizer, key: str, values: Sequence[Any]) -> None:
    for group, value in zip(optimizer.param_groups, values):
        if key in group and not isinstance(group[key], torch.Tensor):
            group[key] = _scalar(value)


def build_optimizer(
    config: Mapping[str, Any], params: Iterable[torch.Tensor] | Iterable[dict[str, Any]]
) -> tuple[torch.optim.Optimizer, Any]:
    """The optimizer of a config dict (already read), with the scheduler the ``optimizer``
    section itself describes (Cerebras style; ``None`` in torch style).

    Raises:
        ConfigError: (a ``ValueError``) for a bad ``optimizer`` section, with the key path of
            the bad value (``ConfigError.path``).
    """
    section = config.get("optimizer")
    if section is None:
        raise ConfigError("missing the 'optimizer' section", path=("optimizer",))
    if not isinstance(section, Mapping):
        raise ConfigError(f"optimizer must be a mapping, got {section!r}", path=("optimizer",))
    if _is_cerebras(section):
        return _cerebras(section, params)
    return _torch_optimizer(section, params), None


def build_scheduler(config: Mapping[str, Any], optimizer: torch.optim.Optimizer) -> Any:
    """The scheduler of a config's top-level ``scheduler`` section on ``optimizer`` (``None``
    when there is none); see the module docstring for the forms.

    Raises:
        ConfigError: (a ``ValueError``) for an unknown scheduler name or key, a missing required
            key or a value the scheduler rejects, with the key path of the bad value.
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

    The parameter groups gain ``initial_lr`` when a scheduler drives the learning rate (see the
    module docstring): torch's record of the value the schedule started from, for resuming.

    Raises:
        ConfigError: (a ``ValueError``) naming the bad key, and for a file its path and line;
            also for an unknown optimizer or scheduler name, with close matches. Of several
            mistakes the first in the file is raised; ``error.others`` holds the rest, in order.

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
        optimkit.config.ConfigError: unknown top-level key 'schedule'; valid keys: optimizer, scheduler, name, description, train, sparsity (did you mean 'scheduler'?)
    """
    data, src = _read(source)
    # A list of its own: the parameters are looked at before the optimizer takes them.
    params = params if isinstance(params, (list, tuple)) else list(params)
    try:
        return _build(data, params)
    except ConfigError as first:
        errors = [first, *_further_errors(data, params, first)]
    # File order (the line of each key; for a dict, the order of its keys), the first raised.
    errors.sort(key=lambda e: (src.line_of(e.path) or 0, _key_order(data, e.path)))
    located = [src.locate(e) for e in errors]
    raise located[0]._evolve(others=tuple(located[1:])) from None


def _build(data: Mapping[str, Any], params: Any) -> tuple[torch.optim.Optimizer, Any]:
    """:func:`load` on a config read already; errors are ConfigErrors at the key they are about
    (not yet located in the file)."""
    check_keys(data, VALID_KEYS, wording=_TOP_LEVEL_WORDING)
    try:
        optimizer, own = build_optimizer(data, params)
    except ConfigError as exc:
        raise _pinpoint(exc, data) from None
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        # The constructor's own checks (torch raises RuntimeError for fused with foreach or
        # differentiable): at the key the message names, else at the section.
        raise _pinpoint(ConfigError(_message(exc), path=("optimizer",)), data) from exc
    if data.get("scheduler") is not None and own is not None:
        raise ConfigError(
            "scheduler: the optimizer section already schedules the learning rate (learning_rate / "
            "weight_decay hold a schedule or a number); give the schedule in one place",
            path=("scheduler",),
        )
    try:
        scheduler = build_scheduler(data, optimizer)
    except ConfigError as exc:
        raise _pinpoint(exc, data) from None
    except (ValueError, TypeError, KeyError) as exc:  # KeyError: torch's, resuming without initial_lr
        raise _pinpoint(ConfigError(_message(exc), path=("scheduler",)), data) from exc
    if data.get("sparsity") is not None:  # masks, stepped after every optimizer.step(): optimkit.sparsity
        attach_sparsity(optimizer, data["sparsity"])
    return optimizer, scheduler if scheduler is not None else own


# Keys that name what to build or hold other schedules: an error there is not repaired by
# leaving the key out (the first is the top-level section ``scheduler``, which may be left out).
_STRUCTURAL = ("name", "optimizer_type", "scheduler", "schedulers", "steps", "total_iters")
_MAX_ERRORS = 20


def _without(data: Any, path: KeyPath) -> Any:
    """A copy of ``data`` without the key at ``path`` (its default then applies), or None when
    that key cannot simply be left out: a list item, a key naming a class, a missing key."""
    if not path or not isinstance(path[-1], str) or (len(path) > 1 and path[-1] in _STRUCTURAL):
        return None

    def copy(node: Any, rest: KeyPath) -> Any:
        head, tail = rest[0], rest[1:]
        if isinstance(node, Mapping) and head in node:
            if not tail:
                return {k: v for k, v in node.items() if k != head}
            inner = copy(node[head], tail)
            return None if inner is None else {**node, head: inner}
        if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node) and tail:
            inner = copy(node[head], tail)
            return None if inner is None else [*node[:head], inner, *node[head + 1:]]
        return None

    return copy(data, path)


def _further_errors(data: Mapping[str, Any], params: Any, first: ConfigError) -> list[ConfigError]:
    """The mistakes after ``first``: each bad key is left out in turn (so its default applies)
    and the config built again, until it builds or a mistake cannot be left out. An error at a
    section that lost a key may be caused by the leaving out: the search stops there."""
    found: list[ConfigError] = []
    dropped: list[KeyPath] = []
    trial: Any = data
    error = first
    while len(found) < _MAX_ERRORS:
        trial = _without(trial, error.path)
        if trial is None:
            break
        dropped.append(error.path)
        # Parameter groups are dicts that the optimizer fills in: every try gets copies.
        fresh = [dict(p) if isinstance(p, Mapping) else p for p in params]
        try:
            with sparsity_dry_run():  # the tensors are the caller's: a sparsity section is checked, not applied
                _build(trial, fresh)
        except ConfigError as exc:
            if any(d[: len(exc.path)] == exc.path for d in dropped):
                break
            found.append(exc)
            error = exc
        except Exception:  # noqa: BLE001 - a config cut down by the search: the first error stands
            break
        else:
            break
    return found


def _key_order(data: Any, path: KeyPath) -> tuple[int, ...]:
    """Where ``path`` sits among the keys of ``data`` (the position of each key in its mapping,
    the index in a list), as far as it exists."""
    out: list[int] = []
    node = data
    for part in path:
        if isinstance(node, Mapping) and part in node:
            out.append(list(node).index(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        else:
            break
    return tuple(out)


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


# How constructors' messages spell some arguments (torch's "Invalid learning rate: -1.0"); any
# argument is also found with spaces for its underscores ("weight decay should be >= 0").
_SPOKEN: dict[str, tuple[str, ...]] = {
    "lr": ("learning rate",),
    "learning_rate": ("learning rate",),
    "eps": ("epsilon",),
    "betas": ("beta",),
    "etas": ("eta",),
    "step_sizes": ("step size",),
    "d": ("clipping threshold d",),
}
_NOT_ARGUMENTS = ("name", "optimizer_type", "scheduler", "schedulers", "steps", "main_scheduler")
# Mappings inside a section whose keys are arguments too (Cerebras' nested optim_params).
_NESTED_ARGUMENTS = ("optim_params",)


def _mention(message: str, key: str) -> int | None:
    """Where ``message`` first names ``key`` (as a word, or as messages spell it), or None."""
    words = {key, key.replace("_", " "), *_SPOKEN.get(key, ())}
    spots = [m.start() for word in words
             for m in [re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", message, re.IGNORECASE)]
             if m is not None]
    return min(spots) if spots else None


def _pinpoint(error: ConfigError, data: Any) -> ConfigError:
    """``error`` moved from a section to the key of it that its message names first (a key of
    a nested ``optim_params`` too), with the key path in front of the message when the message
    names no key of the section at all."""
    node = data
    for part in error.path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return error
    if not isinstance(node, Mapping):
        return error
    keys = [(k,) for k in node if isinstance(k, str) and k not in _NOT_ARGUMENTS + _NESTED_ARGUMENTS]
    keys += [(outer, k) for outer in _NESTED_ARGUMENTS if isinstance(node.get(outer), Mapping)
             for k in node[outer] if isinstance(k, str)]
    # A message that starts with the path already (or with its end: a Cerebras factory's
    # "learning_rate[0]: ..." under "optimizer") gets no second one, and that start names no key.
    rendered = [render_path(error.path[i:]) for i in range(len(error.path))]
    located = next((r for r in rendered if error.message.startswith(r)), None)
    text = error.message[len(located):] if located else error.message
    named = sorted((spot, key) for key in keys for spot in [_mention(text, key[-1])] if spot is not None)
    if named:
        path = error.path + named[0][1]
        key, lowered = path[-1], text.lower()
        if key.lower() in lowered or any(word in lowered for word in _SPOKEN.get(key, ())):
            return error._evolve(path=path)
        # Found only with spaces for underscores ("weight decay should be >= 0"): say the key.
        return error._evolve(path=path, message=f"{render_path(path)}: {error.message}")
    if error.path and located is None:
        given = ", ".join(f"{k}={node[k]!r}" for k in node if isinstance(k, str) and k not in _NOT_ARGUMENTS)
        return error._evolve(message=f"{render_path(error.path)} ({given}): {error.message}")
    return error


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
