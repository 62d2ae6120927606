"""One registry per kind, declared next to the code it describes.

Every optimizer class carries ``@register_optimizer(...)``; the factories, the command line, the
documentation tables and the test database all read this registry instead of keeping lists of
their own.

Example:
    >>> import optimkit.registry as registry
    >>> "adamw" in registry.list_optimizers("adam*")
    True
    >>> registry.get_optimizer("AdamW").cls.__name__
    'AdamW'
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

__all__ = [
    "OptimizerSpec",
    "register_optimizer",
    "list_optimizers",
    "get_optimizer",
    "optimizer_specs",
]

_T = TypeVar("_T", bound=type)


@dataclass(frozen=True)
class OptimizerSpec:
    """What the project knows about one optimizer class.

    Attributes:
        name: registry key, lower case (``"adamw"``).
        cls: the optimizer class.
        description: one line for tables and ``optimkit list``.
        has_betas: the class takes a ``betas`` tuple (first one may be cycled by schedulers).
        has_momentum: the class takes a ``momentum`` float.
        supports_foreach: a ``foreach`` flag selects the ``torch._foreach_*`` executor.
        supports_fused: ``fused=True`` runs one of torch's fused ATen kernels.
        supports_differentiable: ``differentiable=True`` lets autograd flow through ``step()``.
        supports_complex: complex parameters are updated (as real views).
        supports_sparse: sparse gradients are accepted.
        torch_name: the ``torch.optim`` class this one reproduces, ``None`` if it has none.
        namespace: which facade the class belongs to: ``"optim"`` (torch's API,
            :mod:`optimkit.optim`) or ``"cerebras"`` (Cerebras' API, :mod:`optimkit.cerebras.optim`).
            Each namespace has its own names, so ``"adamw"`` can name a class in both.
    """

    name: str
    cls: type
    description: str
    has_betas: bool = False
    has_momentum: bool = False
    supports_foreach: bool = True
    supports_fused: bool = False
    supports_differentiable: bool = True
    supports_complex: bool = True
    supports_sparse: bool = False
    torch_name: str | None = None
    namespace: str = "optim"

    def capabilities(self) -> dict[str, bool]:
        """The boolean flags of this spec, by name (for tables and the test database)."""
        return {
            "betas": self.has_betas,
            "momentum": self.has_momentum,
            "foreach": self.supports_foreach,
            "fused": self.supports_fused,
            "differentiable": self.supports_differentiable,
            "complex": self.supports_complex,
            "sparse": self.supports_sparse,
        }


_OPTIMIZERS: dict[str, OptimizerSpec] = {}
# One name table per facade; the module that registers a namespace's classes when imported.
_NAMESPACES: dict[str, dict[str, OptimizerSpec]] = {"optim": _OPTIMIZERS, "cerebras": {}}
_NAMESPACE_MODULES = {"optim": "optimkit.optim", "cerebras": "optimkit.cerebras.optim"}


def _table(namespace: str) -> dict[str, OptimizerSpec]:
    if namespace not in _NAMESPACES:
        raise ValueError(f"unknown optimizer namespace {namespace!r} (known: {', '.join(_NAMESPACES)})")
    return _NAMESPACES[namespace]


def register_optimizer(
    name: str,
    *,
    description: str,
    has_betas: bool = False,
    has_momentum: bool = False,
    supports_foreach: bool = True,
    supports_fused: bool = False,
    supports_differentiable: bool = True,
    supports_complex: bool = True,
    supports_sparse: bool = False,
    torch_name: str | None = None,
    namespace: str = "optim",
) -> Callable[[_T], _T]:
    """Class decorator that records an optimizer in the registry under ``name``
    (in the table of ``namespace``).

    Raises:
        ValueError: when ``name`` is already taken by another class.
    """
    key = name.lower()
    table = _table(namespace)

    def decorate(cls: _T) -> _T:
        existing = table.get(key)
        if existing is not None and existing.cls is not cls:
            raise ValueError(f"optimizer name {name!r} is already registered to {existing.cls!r}")
        table[key] = OptimizerSpec(
            name=key,
            cls=cls,
            description=description,
            has_betas=has_betas,
            has_momentum=has_momentum,
            supports_foreach=supports_foreach,
            supports_fused=supports_fused,
            supports_differentiable=supports_differentiable,
            supports_complex=supports_complex,
            supports_sparse=supports_sparse,
            torch_name=torch_name,
            namespace=namespace,
        )
        return cls

    return decorate


def _populate(namespace: str = "optim") -> dict[str, OptimizerSpec]:
    # Registration happens as a side effect of importing the modules that define the classes.
    table = _table(namespace)
    importlib.import_module(_NAMESPACE_MODULES[namespace])
    return table


def optimizer_specs(namespace: str = "optim") -> list[OptimizerSpec]:
    """Every optimizer registered in ``namespace``, sorted by name."""
    table = _populate(namespace)
    return [table[key] for key in sorted(table)]


def list_optimizers(pattern: str = "*", namespace: str = "optim") -> list[str]:
    """Registered optimizer names matching a shell-style ``pattern`` (case-insensitive).

    Example:
        >>> from optimkit.registry import list_optimizers
        >>> list_optimizers("sgd")
        ['sgd']
        >>> list_optimizers("adam*", namespace="cerebras")
        ['adam', 'adamax', 'adamw']
    """
    table = _populate(namespace)
    return sorted(name for name in table if fnmatch.fnmatchcase(name, pattern.lower()))


def get_optimizer(name: str, namespace: str = "optim") -> OptimizerSpec:
    """The spec registered under ``name`` (case-insensitive) in ``namespace``.

    Raises:
        KeyError: naming the closest registered names when ``name`` is unknown.
    """
    table = _populate(namespace)
    key = name.lower()
    if key not in table:
        close = difflib.get_close_matches(key, list(table), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown optimizer {name!r}{hint} (known: {', '.join(sorted(table))})")
    return table[key]


def _spec_for_class(cls: type) -> OptimizerSpec | None:
    """The spec of ``cls`` or of its nearest registered base class."""
    for klass in cls.__mro__:
        for spec in _OPTIMIZERS.values():
            if spec.cls is klass:
                return spec
    return None


def describe(spec: OptimizerSpec) -> dict[str, Any]:
    """A plain-data row for tables: name, class, description and capabilities."""
    return {"name": spec.name, "class": spec.cls.__name__, "description": spec.description, **spec.capabilities()}


# --------------------------------------------------------------------------------------------
# Learning-rate (and other hyperparameter) schedulers
# --------------------------------------------------------------------------------------------

__all__ += ["SchedulerSpec", "register_scheduler", "list_schedulers", "get_scheduler", "scheduler_specs"]


@dataclass(frozen=True)
class SchedulerSpec:
    """What the project knows about one scheduler class.

    Attributes:
        name: registry key, lower case (``"onecyclelr"``).
        cls: the scheduler class.
        description: one line for tables and ``optimkit list``.
        torch_name: the ``torch.optim.lr_scheduler`` class this one reproduces, ``None`` if none.
        namespace: the facade the class belongs to: ``"optim"`` (torch's signatures,
            :mod:`optimkit.optim.lr_scheduler`) or ``"cerebras"`` (Cerebras' signatures,
            :mod:`optimkit.cerebras.optim.lr_scheduler`). Names are unique within a namespace, so
            both facades can have a ``"steplr"``.
    """

    name: str
    cls: type
    description: str
    torch_name: str | None = None
    namespace: str = "optim"


# One dict per namespace; ``_SCHEDULERS`` is the default ("optim") one.
_SCHEDULERS: dict[str, SchedulerSpec] = {}
_SCHEDULER_NAMESPACES: dict[str, dict[str, SchedulerSpec]] = {"optim": _SCHEDULERS, "cerebras": {}}

# The modules whose import registers each namespace's classes.
_SCHEDULER_MODULES: dict[str, tuple[str, ...]] = {
    "optim": ("optimkit.optim", "optimkit.optim.lr_scheduler", "optimkit.optim.swa_utils"),
    "cerebras": ("optimkit.cerebras.optim.lr_scheduler",),
}


def _scheduler_namespace(namespace: str) -> dict[str, SchedulerSpec]:
    if namespace not in _SCHEDULER_NAMESPACES:
        raise ValueError(f"unknown scheduler namespace {namespace!r} (known: {', '.join(sorted(_SCHEDULER_NAMESPACES))})")
    return _SCHEDULER_NAMESPACES[namespace]


def register_scheduler(
    name: str, *, description: str, torch_name: str | None = None, namespace: str = "optim"
) -> Callable[[_T], _T]:
    """Class decorator that records a scheduler in the registry under ``name`` (in ``namespace``).

    Raises:
        ValueError: when ``name`` is already taken by another class in the same namespace.

    Example:
        >>> from optimkit.registry import get_scheduler
        >>> get_scheduler("StepLR").torch_name
        'StepLR'
    """
    key = name.lower()
    table = _scheduler_namespace(namespace)

    def decorate(cls: _T) -> _T:
        existing = table.get(key)
        if existing is not None and existing.cls is not cls:
            raise ValueError(f"scheduler name {name!r} is already registered to {existing.cls!r}")
        table[key] = SchedulerSpec(
            name=key, cls=cls, description=description, torch_name=torch_name, namespace=namespace
        )
        return cls

    return decorate


def _populate_schedulers(namespace: str = "optim") -> None:
    # Scheduler classes register themselves when the modules that define them import.
    for module in _SCHEDULER_MODULES.get(namespace, ()):
        importlib.import_module(module)


def scheduler_specs(namespace: str = "optim") -> list[SchedulerSpec]:
    """Every scheduler registered in ``namespace``, sorted by name."""
    _populate_schedulers(namespace)
    table = _scheduler_namespace(namespace)
    return [table[key] for key in sorted(table)]


def list_schedulers(pattern: str = "*", namespace: str = "optim") -> list[str]:
    """Registered scheduler names matching a shell-style ``pattern`` (case-insensitive).

    Example:
        >>> from optimkit.registry import list_schedulers
        >>> list_schedulers("cosine*")
        ['cosineannealinglr', 'cosineannealingwarmrestarts']
        >>> list_schedulers("cosinedecay*", namespace="cerebras")
        ['cosinedecaylr', 'cosinedecaywd']
    """
    _populate_schedulers(namespace)
    table = _scheduler_namespace(namespace)
    return sorted(name for name in table if fnmatch.fnmatchcase(name, pattern.lower()))


def get_scheduler(name: str, namespace: str = "optim") -> SchedulerSpec:
    """The scheduler spec registered under ``name`` (case-insensitive) in ``namespace``.

    Raises:
        KeyError: naming the closest registered names when ``name`` is unknown.
    """
    _populate_schedulers(namespace)
    table = _scheduler_namespace(namespace)
    key = name.lower()
    if key not in table:
        close = difflib.get_close_matches(key, list(table), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown scheduler {name!r}{hint} (known: {', '.join(sorted(table))})")
    return table[key]
