"""``configure_lr_scheduler`` and ``configure_weight_decay_scheduler``: build Cerebras schedulers
from the ``learning_rate`` / ``weight_decay`` entries of a config file.

A schedule entry is written in one of these forms:

* falsy (``None``, ``0``, ``{}``, ``[]``): no scheduler;
* a number (or a string holding one, as YAML reads ``1e-4``): a constant (for the learning rate
  a :class:`~optimkit.cerebras.optim.lr_scheduler.ConstantLR`; a constant weight decay needs no
  scheduler: the optimizer holds it);
* a dict: one scheduler, named by its ``scheduler`` key (``CosineDecay`` or ``CosineDecayLR``,
  case-insensitive; for weight decay ``CosineDecay`` or ``CosineDecayWD``), the other keys being
  the class's arguments. ``SequentialLR`` / ``ChainedScheduler`` take their children as a
  ``schedulers`` list of such dicts;
* a list of dicts: the schedulers run one after the other (:class:`SequentialLR`, with milestones
  at the running sum of each non-last scheduler's ``total_iters``), or, when the items say
  ``main_scheduler: chained``, multiplied together (:class:`ChainedScheduler`).

Unlike Cerebras' own factory, every unknown key is an error that names the closest valid key
and lists them all. Errors are :class:`~optimkit.config.ConfigError` (a ``ValueError``) whose
``path`` is the key path of the bad value from the entry's name (``("learning_rate", 1,
"total_iters")``), so that a config loader can point at its line.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..._binder import ConfigError, KeyPath, Wording, bind, coerce, construct, render_path, unknown_name
from ...registry import SCHEDULERS, UnknownNameError
from . import lr_scheduler as _lrs

__all__ = ["configure_lr_scheduler", "configure_weight_decay_scheduler", "configure_scheduler", "scheduler_class"]

_TorchOptimizer = torch.optim.Optimizer
_SUFFIX = {"lr": "lr", "weight_decay": "wd"}
# Arguments filled by the factory itself, never read from the config.
_FACTORY_ARGS = ("self", "optimizer", "schedulers", "scheduler")


def scheduler_class(name: str, key: str = "lr") -> type[_lrs.LRScheduler]:
    """The Cerebras scheduler class named ``name`` that drives ``key`` (``"lr"`` or
    ``"weight_decay"``): case-insensitive, with or without the ``LR`` / ``WD`` suffix, and
    ``"chained"`` / ``"sequential"`` for the two combinators.

    Raises:
        ValueError: for an unknown name, suggesting close names and listing the valid ones.

    Example:
        >>> from optimkit.cerebras.optim.scheduler_config import scheduler_class
        >>> scheduler_class("CosineDecay").__name__, scheduler_class("cosinedecaylr").__name__
        ('CosineDecayLR', 'CosineDecayLR')
        >>> scheduler_class("CosineDecay", key="weight_decay").__name__
        'CosineDecayWD'
    """
    if key not in _SUFFIX:
        raise ValueError(f"key must be 'lr' or 'weight_decay', got {key!r}")
    if not isinstance(name, str):
        raise ValueError(f"scheduler name must be a string, got {name!r}")
    suffix = _SUFFIX[key]
    # Cerebras' config files call the combinators "chained" and "sequential".
    if name.lower() == "chained" and key == "lr":
        name = "chainedscheduler"
    spec = SCHEDULERS.resolve(name, ["cerebras"], suffixes=(suffix,),
                              where=lambda spec: getattr(spec.cls, "param_group_key", None) == key)
    return spec.cls


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_number(value: Any, path: KeyPath) -> float:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(
        f"{render_path(path)} must be a number, a schedule dict or a list of schedule dicts, got {value!r}", path=path
    )


# Cerebras' schedule entries report all their unknown keys at once.
_WORDING = Wording(unknown="{at}{what} got unknown key(s) {keys}; valid keys: {valid}{hint}")


def _prepare(spec: Any, key: str, path: KeyPath) -> tuple[type, dict[str, Any], Any]:
    """The class a schedule dict names, its checked arguments and (for a combinator) its
    children's specs: everything but the construction."""
    where = render_path(path)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: a schedule must be a dict with a 'scheduler' key, got {spec!r}", path=path)
    spec = dict(spec)
    if "scheduler" not in spec:
        raise ConfigError(f"{where}: missing the 'scheduler' key (the scheduler's name) in {spec!r}", path=path)
    try:
        cls = scheduler_class(spec.pop("scheduler"), key)
    except UnknownNameError as exc:
        raise unknown_name(exc, path + ("scheduler",)) from None
    except ValueError as exc:  # not a string
        raise ConfigError(f"{where}: {exc}", path=path + ("scheduler",)) from None
    spec.pop("main_scheduler", None)  # only meaningful in a list; checked there
    if issubclass(cls, _lrs.ScalePerParamLR):
        raise ConfigError(f"{where}: {cls.__name__} is built from adjust_learning_rate, not named in a schedule",
                          path=path + ("scheduler",))
    takes_children = _takes_children(cls)
    children_spec = spec.pop("schedulers", None) if takes_children else None
    arguments = bind(cls, spec, skip=_FACTORY_ARGS, consumed=("scheduler",) + (("schedulers",) if takes_children else ()),
                     path=path, wording=_WORDING)
    return cls, arguments, children_spec


def _build_one(optimizer: _TorchOptimizer, spec: Mapping[str, Any], key: str, path: KeyPath) -> _lrs.LRScheduler:
    where = render_path(path)
    cls, arguments, children_spec = _prepare(spec, key, path)
    if not _takes_children(cls):
        return construct(cls, optimizer, path=path, **arguments)
    if not isinstance(children_spec, Sequence) or isinstance(children_spec, str) or not children_spec:
        raise ConfigError(f"{where}: {cls.__name__} needs a non-empty 'schedulers' list of schedule dicts",
                          path=path + ("schedulers",) if children_spec is not None else path)
    children = [_build_one(optimizer, child, key, path + ("schedulers", i)) for i, child in enumerate(children_spec)]
    if "optimizer" not in inspect.signature(cls.__init__).parameters:
        return construct(cls, children, path=path, **arguments)  # ChainedScheduler(schedulers, ...)
    return construct(cls, optimizer, path=path, schedulers=children, **arguments)


def _takes_children(cls: type) -> bool:
    return issubclass(cls, (_lrs.SequentialLR, _lrs.ChainedScheduler))


def _build_list(optimizer: _TorchOptimizer, items: Sequence[Any], key: str, path: KeyPath) -> _lrs.LRScheduler:
    where = render_path(path)
    modes = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}[{i}]: a schedule must be a dict with a 'scheduler' key, got {item!r}",
                              path=path + (i,))
        if "main_scheduler" in item:
            mode = str(item["main_scheduler"]).lower()
            if mode not in ("chained", "sequential"):
                raise ConfigError(
                    f"{where}[{i}]: main_scheduler must be 'sequential' or 'chained', got {item['main_scheduler']!r}",
                    path=path + (i, "main_scheduler"), choices=["sequential", "chained"],
                )
            modes.add(mode)
    if len(modes) > 1:
        raise ConfigError(f"{where}: the items disagree on main_scheduler ({', '.join(sorted(modes))})", path=path)
    if len(items) == 1:
        return _build_one(optimizer, items[0], key, path + (0,))
    milestones: list[int] = []
    if modes != {"chained"}:
        total = 0
        for i, item in enumerate(items[:-1]):
            if "total_iters" not in item or item["total_iters"] is None:
                # A misspelt key (total_itrs) or a wrong name is the mistake to report, not the
                # missing total_iters it causes; a missing required argument is reported below.
                try:
                    _prepare(item, key, path + (i,))
                except ConfigError as exc:
                    if exc.path != path + (i,):
                        raise
                raise ConfigError(
                    f"{where}[{i}]: {item.get('scheduler')!r} needs 'total_iters' to place the next "
                    "scheduler's milestone in a sequence",
                    path=path + (i,),
                )
            iters = coerce(item["total_iters"], int, path=path + (i, "total_iters"))
            if not _is_number(iters):
                raise ConfigError(f"{where}[{i}]: total_iters must be a number, got {iters!r}",
                                  path=path + (i, "total_iters"))
            total += int(iters)
            milestones.append(total)
    children = [_build_one(optimizer, item, key, path + (i,)) for i, item in enumerate(items)]
    suffix = _SUFFIX[key]
    if modes == {"chained"}:
        return construct(scheduler_class("chained", key), children, path=path)
    return construct(scheduler_class("sequential" + suffix, key), optimizer, children, milestones, path=path)


def configure_scheduler(
    optimizer: _TorchOptimizer, schedule: Any, key: str = "lr", *, name: str | None = None
) -> _lrs.LRScheduler | None:
    """Build the Cerebras scheduler that ``schedule`` describes for hyperparameter ``key``
    (``"lr"`` or ``"weight_decay"``); see the module docstring for the forms. A number gives a
    constant scheduler for either key.

    Raises:
        ConfigError: (a ``ValueError``) for an unknown scheduler name or key, a missing required
            key, a value that is not the number asked for, a sequence item without
            ``total_iters``, or a value the scheduler rejects; the message says where
            (``learning_rate[1]: ...``) and ``path`` holds the key path.
    """
    path: KeyPath = (name or ("learning_rate" if key == "lr" else key),)
    if not schedule:
        return None
    if _is_number(schedule) or isinstance(schedule, str):
        return construct(scheduler_class("constant", key), optimizer, _as_number(schedule, path), path=path)
    if isinstance(schedule, Mapping):
        return _build_one(optimizer, schedule, key, path)
    if isinstance(schedule, Sequence):
        return _build_list(optimizer, list(schedule), key, path)
    raise ConfigError(f"{path[0]} must be a number, a schedule dict or a list of schedule dicts, got {schedule!r}",
                      path=path)


def _group_factor(group: dict[str, Any], table: Mapping[str, Any], index: int) -> float:
    names = group.get("param_names")
    if names is None:
        raise ConfigError(
            "adjust_learning_rate as a dict needs named parameters: build the optimizer from "
            f"model.named_parameters() (param_groups[{index}] has no 'param_names')",
            path=("adjust_learning_rate",),
        )
    factors = set()
    for pname in names:
        factor = 1.0
        for pattern, value in table.items():
            if pattern in pname:
                factor *= _as_number(value, ("adjust_learning_rate", pattern))
        factors.add(factor)
    if len(factors) > 1:
        raise ConfigError(
            f"adjust_learning_rate gives different factors ({sorted(factors)}) to parameters of param_groups[{index}]; "
            "split them into separate parameter groups",
            path=("adjust_learning_rate",),
        )
    return factors.pop() if factors else 1.0


def _set_adjustments(optimizer: _TorchOptimizer, adjust: Any) -> None:
    groups = optimizer.param_groups
    if _is_number(adjust) or isinstance(adjust, str):
        factors = [_as_number(adjust, ("adjust_learning_rate",))] * len(groups)
    elif isinstance(adjust, Mapping):
        factors = [_group_factor(g, adjust, i) for i, g in enumerate(groups)]
    elif isinstance(adjust, Sequence):
        if len(adjust) != len(groups):
            raise ConfigError(
                f"adjust_learning_rate has {len(adjust)} factors, but the optimizer has {len(groups)} param_groups",
                path=("adjust_learning_rate",),
            )
        factors = [_as_number(a, ("adjust_learning_rate", i)) for i, a in enumerate(adjust)]
    else:
        raise ConfigError(
            "adjust_learning_rate must be a number, a list (one per param group) or a dict "
            f"(parameter-name substring -> factor), got {adjust!r}",
            path=("adjust_learning_rate",),
        )
    for group, factor in zip(groups, factors):
        group["adjust_learning_rate"] = factor


def configure_lr_scheduler(
    optimizer: _TorchOptimizer, learning_rate: Any, adjust_learning_rate: Any = None
) -> _lrs.LRScheduler | None:
    r"""Build the learning-rate scheduler that a config's ``learning_rate`` entry describes.

    * falsy: ``None`` (no scheduler);
    * a number: :class:`~optimkit.cerebras.optim.lr_scheduler.ConstantLR`;
    * a dict: the scheduler named by its ``scheduler`` key (``CosineDecay`` / ``CosineDecayLR``,
      case-insensitive), the other keys being its arguments;
    * a list of dicts: :class:`SequentialLR` with milestones
      :math:`m_k = \sum_{i \le k} T_i` (:math:`T_i` the ``total_iters`` of item :math:`i`, every
      item but the last), or :class:`ChainedScheduler` when the items say
      ``main_scheduler: chained``.

    ``adjust_learning_rate`` scales the learning rate per parameter group (muP): a number (every
    group), a list (one factor per group) or a dict ``{name substring: factor}`` (groups of
    named parameters; a parameter matching several substrings gets the product). The factors
    are stored as ``group["adjust_learning_rate"]`` and the result is wrapped in
    :class:`ScalePerParamLR`.

    Raises:
        ConfigError: (a ``ValueError``) as :func:`configure_scheduler`, also for a bad
            ``adjust_learning_rate``.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.scheduler_config import configure_lr_scheduler
        >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
        >>> sched = configure_lr_scheduler(opt, [
        ...     {"scheduler": "Linear", "initial_learning_rate": 0.0, "end_learning_rate": 1e-4, "total_iters": 1000},
        ...     {"scheduler": "CosineDecay", "initial_learning_rate": 1e-4, "end_learning_rate": 1e-6,
        ...      "total_iters": 9000},
        ... ])
        >>> type(sched).__name__, [sched.lr_at(t)[0] for t in (0, 1000, 10000)]
        ('SequentialLR', [0.0, 0.0001, 1e-06])
        >>> configure_lr_scheduler(opt, {"scheduler": "CosineDecay", "total_iter": 10})
        Traceback (most recent call last):
        ...
        optimkit.config.ConfigError: learning_rate: CosineDecayLR got unknown key(s) 'total_iter'; valid keys: scheduler, initial_learning_rate, end_learning_rate, total_iters, param_group_tags (did you mean 'total_iters'?)
    """
    scheduler = configure_scheduler(optimizer, learning_rate, "lr")
    if scheduler is None or not adjust_learning_rate:
        return scheduler
    _set_adjustments(optimizer, adjust_learning_rate)
    return _lrs.ScalePerParamLR(optimizer, scheduler)


def configure_weight_decay_scheduler(optimizer: _TorchOptimizer, weight_decay: Any) -> _lrs.LRScheduler | None:
    """Build the weight-decay scheduler that a config's ``weight_decay`` entry describes.

    The same forms as :func:`configure_lr_scheduler` with the ``*WD`` classes (``CosineDecay`` or
    ``CosineDecayWD``; arguments ``initial_val``, ``end_val``, ``total_iters``, ...), except that
    a plain number (or a falsy value) gives ``None``: the optimizer's ``weight_decay`` is already
    that constant.

    Raises:
        ValueError: as :func:`configure_lr_scheduler`.

    Example:
        >>> import torch
        >>> from optimkit.cerebras.optim.scheduler_config import configure_weight_decay_scheduler
        >>> opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
        >>> print(configure_weight_decay_scheduler(opt, 0.01))
        None
        >>> wd = configure_weight_decay_scheduler(opt, {"scheduler": "Linear", "initial_val": 0.1,
        ...                                            "end_val": 0.0, "total_iters": 10})
        >>> type(wd).__name__, opt.param_groups[0]["weight_decay"], wd.values_at(5)
        ('LinearWD', 0.1, [0.05])
    """
    if not weight_decay or _is_number(weight_decay) or isinstance(weight_decay, str):
        if isinstance(weight_decay, str):
            _as_number(weight_decay, ("weight_decay",))
        return None
    return configure_scheduler(optimizer, weight_decay, "weight_decay")
