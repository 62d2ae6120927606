"""``configure_optimizer``: build a Cerebras optimizer by name from config-file keyword arguments.

Stricter than Cerebras' own factory, which warns about keys it does not know and drops them: here
an unknown key is an error that lists the valid ones, and each legacy key of Cerebras' older
configs gets an error naming the key that replaced it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from optimkit._binder import ArgumentError, ConfigError, bind
from optimkit.optim._lean import convert_state, lean_state_dtype
from optimkit.optim._validation import argument_problems
from optimkit.registry import OPTIMIZERS, UnknownNameError

__all__ = ["LEGACY_KEYS", "configure_optimizer", "optimizer_class"]

# Keys of older Cerebras configs -> (the argument that replaced them, how to write it).
LEGACY_KEYS: dict[str, tuple[str, str]] = {
    "weight_decay_rate": ("weight_decay", "use weight_decay=<value> instead of weight_decay_rate"),
    "beta1": ("betas", "use betas=(beta1, beta2) instead of beta1/beta2"),
    "beta2": ("betas", "use betas=(beta1, beta2) instead of beta1/beta2"),
    "eps1": ("eps", "use eps=(eps1, eps2) instead of eps1/eps2"),
    "eps2": ("eps", "use eps=(eps1, eps2) instead of eps1/eps2"),
    "eta1": ("etas", "use etas=(eta1, eta2) instead of eta1/eta2"),
    "eta2": ("etas", "use etas=(eta1, eta2) instead of eta1/eta2"),
    "step_size_min": ("step_sizes", "use step_sizes=(step_size_min, step_size_max) instead of step_size_min/step_size_max"),
    "step_size_max": ("step_sizes", "use step_sizes=(step_size_min, step_size_max) instead of step_size_min/step_size_max"),
}

# Config keys that are another name for a constructor argument.
ALIASES: dict[str, str] = {"learning_rate": "lr"}

# Arguments that a config may give as a schedule (a dict, or a list of dicts) instead of a number;
# the scheduler built from it (configure_lr_scheduler) sets the real value before the first step.
SCHEDULABLE = ("lr", "weight_decay")


def optimizer_class(optimizer_type: str) -> type[torch.optim.Optimizer]:
    """The Cerebras optimizer class named ``optimizer_type``, case-insensitively; for a name
    Cerebras does not have, optimkit's own algorithm of that name (one without a
    ``torch.optim`` counterpart, such as ``AdamWScheduleFree``).

    Raises:
        ValueError: for an unknown name, suggesting the closest names and listing all of them.
        TypeError: for a name that is not a string (an
            :class:`~optimkit._binder.ArgumentError`, also a ``ConfigError`` at ``optimizer_type``).

    Example:
        >>> from optimkit.cerebras.optim.configure import optimizer_class
        >>> optimizer_class("ADAMW").__module__
        'optimkit.cerebras.optim.optimizers'
        >>> optimizer_class("AdamWScheduleFree").__module__
        'optimkit.optim.schedule_free'
        >>> optimizer_class(3)
        Traceback (most recent call last):
        ...
        optimkit._binder.ArgumentError: optimizer_type must be a string naming a Cerebras optimizer, got int 3
    """
    if not isinstance(optimizer_type, str):
        raise ArgumentError(
            f"optimizer_type must be a string naming a Cerebras optimizer, got {type(optimizer_type).__name__} "
            f"{optimizer_type!r}",
            path=("optimizer_type",),
        )
    try:
        return OPTIMIZERS.resolve(optimizer_type, ["cerebras"], what="optimizer_type").cls
    except UnknownNameError as unknown:
        # An algorithm Cerebras does not ship (AdamWScheduleFree): optimkit's own class, which has
        # one signature only. torch's algorithms stay Cerebras' (with Cerebras' defaults) or unknown.
        try:
            return OPTIMIZERS.resolve(optimizer_type, ["optim"], where=lambda spec: spec.torch_name is None).cls
        except UnknownNameError:
            raise unknown from None


def _is_schedule(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple)) and not (
        isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value)
    )


def configure_optimizer(
    optimizer_type: str,
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
    **kwargs: Any,
) -> torch.optim.Optimizer:
    """Build the Cerebras optimizer named ``optimizer_type`` over ``params``.

    The keyword arguments are those of the class's constructor, as they appear in a config file:

    * the name is matched case-insensitively (``"AdamW"``, ``"adamw"``);
    * ``learning_rate`` is accepted for ``lr``;
    * a nested ``optim_params`` dict is merged into the other keyword arguments (a key given
      both ways is an error);
    * a string holding a number (YAML reads ``1e-3`` as a string) is converted for a numeric
      argument;
    * ``learning_rate``/``weight_decay`` may hold a schedule (a dict or a list of dicts): the
      optimizer is then built with a placeholder (the constructor's default, or 0.0) that the
      scheduler made from that schedule overwrites;
    * Cerebras' legacy keys (``weight_decay_rate``, ``beta1``/``beta2``, ``eps1``/``eps2``,
      ``eta1``/``eta2``, ``step_size_min``/``step_size_max``) raise a ValueError that names the
      argument replacing them, unless the class takes that key itself (Adafactor's ``beta1``).

    Raises:
        ValueError: an unknown optimizer name (with close matches; a
            :class:`~optimkit.registry.UnknownNameError`). For the keyword arguments a
            :class:`~optimkit.config.ConfigError` (a ``ValueError`` whose ``path`` is the bad
            key, under ``optim_params`` for a nested one): a legacy key, a key the constructor
            does not take (naming the closest and listing the valid ones), a missing required
            argument, a string that is not the number asked for, a value of another type than
            the argument's annotation (a bool for a number, a ``betas`` without two entries), or
            a number that is not finite.
        TypeError: an ``optimizer_type`` that is not a string (also a ``ConfigError``).

    Example:
        >>> import torch
        >>> from optimkit.cerebras import configure_optimizer
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = configure_optimizer("AdamW", model.parameters(), learning_rate=1e-3, weight_decay=0.01)
        >>> type(opt).__name__, opt.defaults["lr"], opt.defaults["eps"]
        ('AdamW', 0.001, 1e-06)
        >>> configure_optimizer("adamw", model.parameters(), beta1=0.9)
        Traceback (most recent call last):
        ...
        optimkit.config.ConfigError: AdamW: legacy key 'beta1': use betas=(beta1, beta2) instead of beta1/beta2
    """
    cls = optimizer_class(optimizer_type)
    nested = kwargs.pop("optim_params", None) or {}
    if not isinstance(nested, Mapping):
        raise ConfigError(f"{cls.__name__}: optim_params must be a mapping, got {nested!r}", path=("optim_params",))
    clash = sorted(set(nested) & set(kwargs))
    if clash:
        raise ConfigError(f"{cls.__name__}: {', '.join(clash)} given both inside and outside optim_params",
                          path=("optim_params", clash[0]))
    # optimkit's compact state (docs/memory_lean_state.md): not an argument of Cerebras' signature,
    # so taken here and applied to the state the class creates at once.
    nested = dict(nested)  # (the caller's config stays as it was)
    state_dtype = _lean_option(cls, kwargs, nested)
    try:
        arguments = bind(cls, {**kwargs, **nested}, skip=("params",), aliases=ALIASES, legacy=LEGACY_KEYS)
    except ConfigError as exc:
        raise exc.within("optim_params") if exc.path and exc.path[0] in nested else exc from None

    # A schedule is no number: the constructor gets a placeholder that its scheduler overwrites.
    parameters = inspect.signature(cls.__init__).parameters
    for name in SCHEDULABLE:
        if name in arguments and _is_schedule(arguments[name]):
            default = parameters[name].default
            arguments[name] = 0.0 if default is inspect.Parameter.empty or default is None else default
    _check_types(cls, arguments, kwargs, nested)
    optimizer = cls(params, **arguments)
    if state_dtype is not None:
        convert_state(optimizer, state_dtype)
    return optimizer


def _lean_option(cls: type, kwargs: dict[str, Any], nested: dict[str, Any]) -> Any:
    """The ``state_dtype`` key of a config (taken out of the arguments), checked: a ConfigError at
    the key for a class that keeps no compact state or a value that names no format."""
    where = "optim_params" if "state_dtype" in nested else None
    source = nested if where else kwargs
    if "state_dtype" not in source:
        return None
    value = source.pop("state_dtype")
    path: tuple[str, ...] = (where, "state_dtype") if where else ("state_dtype",)
    if not getattr(cls, "_lean_states", None):
        raise ConfigError(f"{cls.__name__}: state_dtype: {cls.__name__} keeps no moments to compact "
                          "(Adam, AdamW, SGD, Lion and Lamb do)", path=path)
    try:
        return lean_state_dtype(value)
    except ValueError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}", path=path) from None


def _check_types(cls: type, arguments: dict[str, Any], kwargs: Mapping[str, Any], nested: Mapping[str, Any]) -> None:
    """A ConfigError at the key of the first argument whose value is not of its annotated type
    (or not finite): checked here, where the key the config used is known, rather than by the
    constructor."""
    problems = argument_problems(cls, arguments, finite=True)
    if not problems:
        return
    problem = problems[0]
    # The key as written: the argument's own name, or the alias that gave it.
    key = next((k for k in (*kwargs, *nested) if ALIASES.get(k, k) == problem.name), problem.name)
    path: tuple[str, ...] = ("optim_params", key) if key in nested and key not in kwargs else (key,)
    message = key + problem.message[len(problem.name):]
    error = ArgumentError if problem.error is TypeError else ConfigError
    raise error(f"{cls.__name__}: {message}", path=path)
