"""One registry per kind, declared next to the code it describes.

Every optimizer class carries ``@register_optimizer(...)``, every scheduler class
``@register_scheduler(...)`` and every sparsity algorithm (:mod:`optimkit.sparsity`)
``@register_sparsity(...)``; the factories, the command line, the documentation tables and the
test database all read these registries instead of keeping lists of their own.

Every kind is an instance of one generic :class:`Registry`: names are unique within a
*namespace* (``"optim"``, torch's API, and ``"cerebras"``, Cerebras' API, so ``"adamw"`` can name
a class in both), may have aliases, and are looked up by one resolver (:meth:`Registry.resolve`)
that every front end shares: case-insensitive, optional ``namespace:`` prefix, optional name
suffixes and unique prefixes, and an error that lists the closest names.

Example:
    >>> import optimkit.registry as registry
    >>> "adamw" in registry.list_optimizers("adam*")
    True
    >>> registry.get_optimizer("AdamW").cls.__name__
    'AdamW'
    >>> registry.SCHEDULERS.resolve("cerebras:cosine_decay", suffixes=("lr",)).cls.__name__
    'CosineDecayLR'
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "Spec",
    "OptimizerSpec",
    "SchedulerSpec",
    "Registry",
    "UnknownNameError",
    "OPTIMIZERS",
    "SCHEDULERS",
    "NAMESPACES",
    "register_optimizer",
    "list_optimizers",
    "get_optimizer",
    "optimizer_specs",
    "register_scheduler",
    "list_schedulers",
    "get_scheduler",
    "scheduler_specs",
    "SparsitySpec",
    "SPARSITY",
    "SPARSITY_NAMESPACES",
    "register_sparsity",
    "list_sparsity",
    "sparsity_specs",
    "spec_for",
]

_T = TypeVar("_T", bound=type)

#: The facades, in lookup order when a name does not say which one it means.
NAMESPACES: tuple[str, ...] = ("optim", "cerebras")


@dataclass(frozen=True)
class Spec:
    """What the project knows about one registered class.

    Attributes:
        name: registry key, lower case (``"adamw"``, ``"onecyclelr"``).
        cls: the class.
        description: one line for tables and ``optimkit list``.
        torch_name: the ``torch.optim`` class this one reproduces, ``None`` if it has none.
        namespace: the facade the class belongs to: ``"optim"`` (torch's signatures) or
            ``"cerebras"`` (Cerebras' signatures).
        aliases: other names (lower case) that find this class in its namespace.
    """

    name: str
    cls: type
    description: str
    torch_name: str | None = None
    namespace: str = "optim"
    aliases: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class OptimizerSpec(Spec):
    """An optimizer class and its capabilities.

    Attributes:
        has_betas: the class takes a ``betas`` tuple (first one may be cycled by schedulers).
        has_momentum: the class takes a ``momentum`` float.
        supports_foreach: a ``foreach`` flag selects the ``torch._foreach_*`` executor.
        supports_fused: ``fused=True`` runs one of torch's fused ATen kernels.
        supports_differentiable: ``differentiable=True`` lets autograd flow through ``step()``.
        supports_complex: complex parameters are updated (as real views).
        supports_sparse: sparse gradients are accepted.
    """

    has_betas: bool = False
    has_momentum: bool = False
    supports_foreach: bool = True
    supports_fused: bool = False
    supports_differentiable: bool = True
    supports_complex: bool = True
    supports_sparse: bool = False

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


@dataclass(frozen=True)
class SchedulerSpec(Spec):
    """A scheduler class (torch's ``lr_scheduler`` names, or Cerebras' schedulers)."""


@dataclass(frozen=True)
class SparsitySpec(Spec):
    """A sparsity algorithm of :mod:`optimkit.sparsity` (its one namespace is ``"sparsity"``)."""


S = TypeVar("S", bound=Spec)


class UnknownNameError(KeyError, ValueError):
    """A name that no registered class answers to.

    It is both a :class:`KeyError` (a failed lookup) and a :class:`ValueError` (a bad value in a
    config), so callers catch whichever they think of. ``choices`` lists the valid names and
    ``close`` the nearest ones.
    """

    def __init__(self, message: str, name: str, choices: Sequence[str], close: Sequence[str]) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.choices = list(choices)
        self.close = list(close)

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return self.message


def _plain(name: str) -> str:
    """``name`` lower case with everything but letters and digits removed."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def close_matches(name: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The ``n`` names of ``choices`` most like ``name`` (case-insensitive), best first."""
    return list(dict.fromkeys(difflib.get_close_matches(name.lower(), list(choices), n=n, cutoff=cutoff)))


class Registry(Generic[S]):
    """Registered classes of one kind, one name table per namespace.

    Args:
        kind: what is registered, for messages (``"optimizer"``).
        modules: per namespace, the modules whose import registers its classes (registration is
            a side effect of defining the classes, so a lookup imports these first).
    """

    def __init__(self, kind: str, modules: dict[str, tuple[str, ...]]) -> None:
        self.kind = kind
        self._modules = modules
        self._tables: dict[str, dict[str, S]] = {namespace: {} for namespace in modules}
        self._aliases: dict[str, dict[str, str]] = {namespace: {} for namespace in modules}

    # ----------------------------------------------------------------------------- registering
    def _raw_table(self, namespace: str) -> dict[str, S]:
        if namespace not in self._tables:
            raise ValueError(f"unknown {self.kind} namespace {namespace!r} (known: {', '.join(self._tables)})")
        return self._tables[namespace]

    def add(self, spec: S) -> None:
        """Record ``spec`` under its name and aliases.

        Raises:
            ValueError: when a name or alias is already taken by another class.
        """
        table = self._raw_table(spec.namespace)
        aliases = self._aliases[spec.namespace]
        for key in (spec.name, *spec.aliases):
            owner = table.get(aliases.get(key, key))
            if owner is not None and owner.cls is not spec.cls:
                raise ValueError(f"{self.kind} name {key!r} is already registered to {owner.cls!r}")
        table[spec.name] = spec
        for alias in spec.aliases:
            aliases[alias] = spec.name

    def decorator(self, make_spec: Callable[[type], S]) -> Callable[[_T], _T]:
        """A class decorator that registers the spec ``make_spec(cls)``."""

        def decorate(cls: _T) -> _T:
            self.add(make_spec(cls))
            return cls

        return decorate

    # -------------------------------------------------------------------------------- reading
    def table(self, namespace: str = "optim") -> dict[str, S]:
        """Name -> spec for ``namespace``, after importing the modules that fill it."""
        table = self._raw_table(namespace)
        for module in self._modules[namespace]:
            importlib.import_module(module)
        return table

    def specs(self, namespace: str = "optim") -> list[S]:
        """Every spec of ``namespace``, sorted by name."""
        table = self.table(namespace)
        return [table[key] for key in sorted(table)]

    def names(self, pattern: str = "*", namespace: str = "optim") -> list[str]:
        """Registered names of ``namespace`` matching the shell-style ``pattern`` (any case)."""
        return sorted(name for name in self.table(namespace) if fnmatch.fnmatchcase(name, pattern.lower()))

    def get(self, name: str, namespace: str = "optim") -> S:
        """The spec registered as ``name`` or one of its aliases (any case) in ``namespace``.

        Raises:
            UnknownNameError: naming the closest registered names.
        """
        table = self.table(namespace)
        key = name.lower()
        key = self._aliases[namespace].get(key, key)
        if key in table:
            return table[key]
        close = close_matches(key, table)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(table))})",
                               name, sorted(table), close)

    def resolve(
        self,
        name: str,
        namespaces: Sequence[str] = NAMESPACES,
        *,
        suffixes: Sequence[str] = (),
        unique_prefix: bool = False,
        where: Callable[[S], bool] | None = None,
        what: str | None = None,
        listing: str | None = None,
    ) -> S:
        """The one lookup every front end uses: config files, the CLI, plots.

        ``name`` may start with ``namespace:`` to pick a namespace; otherwise ``namespaces`` are
        searched in order. Case, ``-``, ``_`` and spaces do not matter; one of ``suffixes`` may be
        left off (``"onecycle"`` finds ``"onecyclelr"`` with ``suffixes=("lr",)``) or given where
        the registered name has another (``"CosineDecayWD"`` is looked up as ``cosinedecay`` +
        each suffix); aliases count; with ``unique_prefix`` a prefix that fits exactly one name
        is enough. ``where`` restricts the candidates.

        Raises:
            UnknownNameError: listing the closest names, and the valid ones (or ``listing``, a
                hint where the list is long). ``what`` names the thing in the message (default:
                the kind).
        """
        head, sep, tail = name.partition(":")
        if sep and head.lower() in self._tables:
            namespaces, name = (head.lower(),), tail
        key = _plain(name)
        stems = [key] + [key[: -len(s)] for s in suffixes if key.endswith(s) and len(key) > len(s)]
        candidates = list(dict.fromkeys([k + s for k in stems for s in ("", *suffixes)]))
        everything: list[str] = []
        for namespace in namespaces:
            table = {k: spec for k, spec in self.table(namespace).items() if where is None or where(spec)}
            aliases = {alias: target for alias, target in self._aliases[namespace].items() if target in table}
            everything += [*table, *aliases]
            for candidate in candidates:
                target = aliases.get(candidate, candidate)
                if target in table:
                    return table[target]
            if unique_prefix and key:
                starts = [k for k in table if k.startswith(key)]
                if len(starts) == 1:
                    return table[starts[0]]
        everything = sorted(dict.fromkeys(everything))
        close = close_matches(key, everything, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        choices = listing or f"valid: {', '.join(everything)}"
        raise UnknownNameError(f"unknown {what or self.kind} {name!r}{hint} ({choices})", name, everything, close)

    def spec_for(self, cls: type, namespaces: Sequence[str] = NAMESPACES) -> S | None:
        """The spec of ``cls``, or of its nearest registered base class, in any of ``namespaces``
        (a Cerebras class is found in its own namespace before its optimkit parent)."""
        for klass in cls.__mro__:
            for namespace in namespaces:
                for spec in self.table(namespace).values():
                    if spec.cls is klass:
                        return spec
        return None


OPTIMIZERS: Registry[OptimizerSpec] = Registry(
    "optimizer", {"optim": ("optimkit.optim",), "cerebras": ("optimkit.cerebras.optim",)}
)
SCHEDULERS: Registry[SchedulerSpec] = Registry(
    "scheduler",
    {
        "optim": ("optimkit.optim", "optimkit.optim.lr_scheduler", "optimkit.optim.swa_utils"),
        "cerebras": ("optimkit.cerebras.optim.lr_scheduler",),
    },
)
# Sparsity algorithms have no torch or Cerebras facade of their own: one namespace, looked up
# with ``SPARSITY.resolve(name, SPARSITY_NAMESPACES)``.
SPARSITY_NAMESPACES: tuple[str, ...] = ("sparsity",)
SPARSITY: Registry[SparsitySpec] = Registry("sparsity algorithm", {"sparsity": ("optimkit.sparsity",)})


# ------------------------------------------------------------------------------------ optimizers
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
    aliases: Sequence[str] = (),
) -> Callable[[_T], _T]:
    """Class decorator that records an optimizer under ``name`` in the table of ``namespace``.

    Raises:
        ValueError: when ``name`` or an alias is already taken by another class.
    """
    options = {key: value for key, value in locals().items() if key not in ("name", "aliases")}
    return OPTIMIZERS.decorator(
        lambda cls: OptimizerSpec(name=name.lower(), cls=cls, aliases=tuple(a.lower() for a in aliases), **options)
    )


def optimizer_specs(namespace: str = "optim") -> list[OptimizerSpec]:
    """Every optimizer registered in ``namespace``, sorted by name."""
    return OPTIMIZERS.specs(namespace)


def list_optimizers(pattern: str = "*", namespace: str = "optim") -> list[str]:
    """Registered optimizer names matching a shell-style ``pattern`` (case-insensitive).

    Example:
        >>> from optimkit.registry import list_optimizers
        >>> list_optimizers("sgd")
        ['sgd']
        >>> list_optimizers("adam*", namespace="cerebras")
        ['adam', 'adamax', 'adamw']
    """
    return OPTIMIZERS.names(pattern, namespace)


def get_optimizer(name: str, namespace: str = "optim") -> OptimizerSpec:
    """The spec registered under ``name`` (case-insensitive) in ``namespace``.

    Raises:
        UnknownNameError: a :class:`KeyError` naming the closest registered names.
    """
    return OPTIMIZERS.get(name, namespace)


def spec_for(cls: type) -> OptimizerSpec | SchedulerSpec | None:
    """The optimizer or scheduler spec of ``cls`` or of its nearest registered base class.

    Example:
        >>> from optimkit.cerebras.optim import AdamW
        >>> spec_for(AdamW).namespace, spec_for(AdamW).name
        ('cerebras', 'adamw')
    """
    return OPTIMIZERS.spec_for(cls) or SCHEDULERS.spec_for(cls)


def describe(spec: OptimizerSpec) -> dict[str, Any]:
    """A plain-data row for tables: name, class, description and capabilities."""
    return {"name": spec.name, "class": spec.cls.__name__, "description": spec.description, **spec.capabilities()}


# ------------------------------------------------------------------------------------ schedulers
def register_scheduler(
    name: str,
    *,
    description: str,
    torch_name: str | None = None,
    namespace: str = "optim",
    aliases: Sequence[str] = (),
) -> Callable[[_T], _T]:
    """Class decorator that records a scheduler under ``name`` (in ``namespace``).

    Raises:
        ValueError: when ``name`` or an alias is already taken by another class in the namespace.

    Example:
        >>> from optimkit.registry import get_scheduler
        >>> get_scheduler("StepLR").torch_name
        'StepLR'
    """
    return SCHEDULERS.decorator(
        lambda cls: SchedulerSpec(name=name.lower(), cls=cls, description=description, torch_name=torch_name,
                                  namespace=namespace, aliases=tuple(a.lower() for a in aliases))
    )


def scheduler_specs(namespace: str = "optim") -> list[SchedulerSpec]:
    """Every scheduler registered in ``namespace``, sorted by name."""
    return SCHEDULERS.specs(namespace)


def list_schedulers(pattern: str = "*", namespace: str = "optim") -> list[str]:
    """Registered scheduler names matching a shell-style ``pattern`` (case-insensitive).

    Example:
        >>> from optimkit.registry import list_schedulers
        >>> list_schedulers("cosine*")
        ['cosineannealinglr', 'cosineannealingwarmrestarts']
        >>> list_schedulers("cosinedecay*", namespace="cerebras")
        ['cosinedecaylr', 'cosinedecaywd']
    """
    return SCHEDULERS.names(pattern, namespace)


def get_scheduler(name: str, namespace: str = "optim") -> SchedulerSpec:
    """The scheduler spec registered under ``name`` (case-insensitive) in ``namespace``.

    Raises:
        UnknownNameError: a :class:`KeyError` naming the closest registered names.
    """
    return SCHEDULERS.get(name, namespace)


# ----------------------------------------------------------------------------- sparsity algorithms
def register_sparsity(name: str, *, description: str, aliases: Sequence[str] = ()) -> Callable[[_T], _T]:
    """Class decorator that records a sparsity algorithm of :mod:`optimkit.sparsity` under ``name``.

    Raises:
        ValueError: when ``name`` or an alias is already taken by another class.
    """
    return SPARSITY.decorator(
        lambda cls: SparsitySpec(name=name.lower(), cls=cls, description=description, namespace="sparsity",
                                 aliases=tuple(a.lower() for a in aliases))
    )


def sparsity_specs() -> list[SparsitySpec]:
    """Every registered sparsity algorithm, sorted by name."""
    return SPARSITY.specs("sparsity")


def list_sparsity(pattern: str = "*") -> list[str]:
    """Registered sparsity algorithm names matching a shell-style ``pattern`` (case-insensitive).

    Example:
        >>> from optimkit.registry import list_sparsity
        >>> list_sparsity()
        ['gmp', 'rigl', 'set', 'static']
    """
    return SPARSITY.names(pattern, "sparsity")
