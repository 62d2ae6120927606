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

Unlike Cerebras' own factory, every unknown key is an error that names the valid ones.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ...registry import SCHEDULERS
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


def _as_number(value: Any, what: str) -> float:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"{what} must be a number, a schedule dict or a list of schedule dicts, got {value!r}")


def _coerce(cls: type, name: str, value: Any, parameter: inspect.Parameter) -> Any:
    """Turn a string holding a number into a number where the argument is numeric (YAML reads
    ``1e-4`` as a string)."""
    annotation = str(parameter.annotation)
    if isinstance(value, str) and ("float" in annotation or "int" in annotation) and "str" not in annotation:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{cls.__name__}: {name}={value!r} is not a number") from None
        return int(number) if "float" not in annotation and number.is_integer() else number
    return value


def _build_one(optimizer: _TorchOptimizer, spec: Mapping[str, Any], key: str, where: str) -> _lrs.LRScheduler:
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: a schedule must be a dict with a 'scheduler' key, got {spec!r}")
    spec = dict(spec)
    if "scheduler" not in spec:
        raise ValueError(f"{where}: missing the 'scheduler' key (the scheduler's name) in {spec!r}")
    cls = scheduler_class(spec.pop("scheduler"), key)
    spec.pop("main_scheduler", None)  # only meaningful in a list; checked there
    if issubclass(cls, _lrs.ScalePerParamLR):
        raise ValueError(f"{where}: {cls.__name__} is built from adjust_learning_rate, not named in a schedule")
    signature = inspect.signature(cls.__init__)
    accepted = [n for n in signature.parameters if n not in _FACTORY_ARGS]
    unknown = sorted(set(spec) - set(accepted) - ({"schedulers"} if _takes_children(cls) else set()))
    if unknown:
        valid = accepted + (["schedulers"] if _takes_children(cls) else [])
        raise ValueError(
            f"{where}: {cls.__name__} got unknown key(s) {', '.join(map(repr, unknown))}; valid keys: "
            f"scheduler, {', '.join(valid)}"
        )
    arguments = {n: _coerce(cls, n, v, signature.parameters[n]) for n, v in spec.items() if n != "schedulers"}
    if _takes_children(cls):
        children_spec = spec.get("schedulers")
        if not isinstance(children_spec, Sequence) or isinstance(children_spec, str) or not children_spec:
            raise ValueError(f"{where}: {cls.__name__} needs a non-empty 'schedulers' list of schedule dicts")
        children = [
            _build_one(optimizer, child, key, f"{where}.schedulers[{i}]") for i, child in enumerate(children_spec)
        ]
        if "schedulers" in signature.parameters and "optimizer" not in signature.parameters:
            return cls(children, **arguments)  # ChainedScheduler(schedulers, ...)
        arguments["schedulers"] = children
    missing = [
        n for n, p in signature.parameters.items()
        if n not in _FACTORY_ARGS and p.default is inspect.Parameter.empty and n not in arguments
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if missing:
        raise ValueError(f"{where}: {cls.__name__} is missing required key(s): {', '.join(missing)}")
    return cls(optimizer, **arguments)


def _takes_children(cls: type) -> bool:
    return issubclass(cls, (_lrs.SequentialLR, _lrs.ChainedScheduler))


def _build_list(optimizer: _TorchOptimizer, items: Sequence[Any], key: str, where: str) -> _lrs.LRScheduler:
    modes = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}[{i}]: a schedule must be a dict with a 'scheduler' key, got {item!r}")
        if "main_scheduler" in item:
            mode = str(item["main_scheduler"]).lower()
            if mode not in ("chained", "sequential"):
                raise ValueError(
                    f"{where}[{i}]: main_scheduler must be 'sequential' or 'chained', got {item['main_scheduler']!r}"
                )
            modes.add(mode)
    if len(modes) > 1:
        raise ValueError(f"{where}: the items disagree on main_scheduler ({', '.join(sorted(modes))})")
    if len(items) == 1:
        return _build_one(optimizer, items[0], key, f"{where}[0]")
    milestones: list[int] = []
    if modes != {"chained"}:
        total = 0
        for i, item in enumerate(items[:-1]):
            if "total_iters" not in item or item["total_iters"] is None:
                raise ValueError(
                    f"{where}[{i}]: {item.get('scheduler')!r} needs 'total_iters' to place the next "
                    "scheduler's milestone in a sequence"
                )
            total += int(_as_number(item["total_iters"], f"{where}[{i}].total_iters"))
            milestones.append(total)
    children = [_build_one(optimizer, item, key, f"{where}[{i}]") for i, item in enumerate(items)]
    suffix = _SUFFIX[key]
    if modes == {"chained"}:
        return scheduler_class("chained", key)(children)
    return scheduler_class("sequential" + suffix, key)(optimizer, children, milestones)


def configure_scheduler(
    optimizer: _TorchOptimizer, schedule: Any, key: str = "lr", *, name: str | None = None
) -> _lrs.LRScheduler | None:
    """Build the Cerebras scheduler that ``schedule`` describes for hyperparameter ``key``
    (``"lr"`` or ``"weight_decay"``); see the module docstring for the forms. A number gives a
    constant scheduler for either key.

    Raises:
        ValueError: for an unknown scheduler name or key, a missing required key, or a sequence
            item without ``total_iters``; the message says where (``learning_rate[1]: ...``).
    """
    where = name or ("learning_rate" if key == "lr" else key)
    if not schedule:
        return None
    if _is_number(schedule) or isinstance(schedule, str):
        return scheduler_class("constant", key)(optimizer, _as_number(schedule, where))
    if isinstance(schedule, Mapping):
        return _build_one(optimizer, schedule, key, where)
    if isinstance(schedule, Sequence):
        return _build_list(optimizer, list(schedule), key, where)
    raise ValueError(f"{where} must be a number, a schedule dict or a list of schedule dicts, got {schedule!r}")


def _group_factor(group: dict[str, Any], table: Mapping[str, Any], index: int) -> float:
    names = group.get("param_names")
    if names is None:
        raise ValueError(
            "adjust_learning_rate as a dict needs named parameters: build the optimizer from "
            f"model.named_parameters() (param_groups[{index}] has no 'param_names')"
        )
    factors = set()
    for pname in names:
        factor = 1.0
        for pattern, value in table.items():
            if pattern in pname:
                factor *= _as_number(value, f"adjust_learning_rate[{pattern!r}]")
        factors.add(factor)
    if len(factors) > 1:
        raise ValueError(
            f"adjust_learning_rate gives different factors ({sorted(factors)}) to parameters of param_groups[{index}]; "
            "split them into separate parameter groups"
        )
    return factors.pop() if factors else 1.0


def _set_adjustments(optimizer: _TorchOptimizer, adjust: Any) -> None:
    groups = optimizer.param_groups
    if _is_number(adjust) or isinstance(adjust, str):
        factors = [_as_number(adjust, "adjust_learning_rate")] * len(groups)
    elif isinstance(adjust, Mapping):
        factors = [_group_factor(g, adjust, i) for i, g in enumerate(groups)]
    elif isinstance(adjust, Sequence):
        if len(adjust) != len(groups):
            raise ValueError(
                f"adjust_learning_rate has {len(adjust)} factors, but the optimizer has {len(groups)} param_groups"
            )
        factors = [_as_number(a, f"adjust_learning_rate[{i}]") for i, a in enumerate(adjust)]
    else:
        raise ValueError(
            "adjust_learning_rate must be a number, a list (one per param group) or a dict "
            f"(parameter-name substring -> factor), got {adjust!r}"
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
        ValueError: for an unknown scheduler name or key (listing the valid ones), a missing
            required key, or a sequence item without ``total_iters``.

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
        ValueError: learning_rate: CosineDecayLR got unknown key(s) 'total_iter'; valid keys: scheduler, initial_learning_rate, end_learning_rate, total_iters, param_group_tags
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
            _as_number(weight_decay, "weight_decay")
        return None
    return configure_scheduler(optimizer, weight_decay, "weight_decay")
