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
) -> Callable[[_T], _T]:
    """Class decorator that records an optimizer in the registry under ``name``.

    Raises:
        ValueError: when ``name`` is already taken by another class.
    """
    key = name.lower()

    def decorate(cls: _T) -> _T:
        existing = _OPTIMIZERS.get(key)
        if existing is not None and existing.cls is not cls:
            raise ValueError(f"optimizer name {name!r} is already registered to {existing.cls!r}")
        _OPTIMIZERS[key] = OptimizerSpec(
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
        )
        return cls

    return decorate


def _populate() -> None:
    # Registration happens as a side effect of importing the modules that define the classes.
    importlib.import_module("optimkit.optim")


def optimizer_specs() -> list[OptimizerSpec]:
    """Every registered optimizer, sorted by name."""
    _populate()
    return [_OPTIMIZERS[key] for key in sorted(_OPTIMIZERS)]


def list_optimizers(pattern: str = "*") -> list[str]:
    """Registered optimizer names matching a shell-style ``pattern`` (case-insensitive).

    Example:
        >>> from optimkit.registry import list_optimizers
        >>> list_optimizers("sgd")
        ['sgd']
    """
    _populate()
    return sorted(name for name in _OPTIMIZERS if fnmatch.fnmatchcase(name, pattern.lower()))


def get_optimizer(name: str) -> OptimizerSpec:
    """The spec registered under ``name`` (case-insensitive).

    Raises:
        KeyError: naming the closest registered names when ``name`` is unknown.
    """
    _populate()
    key = name.lower()
    if key not in _OPTIMIZERS:
        close = difflib.get_close_matches(key, list(_OPTIMIZERS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown optimizer {name!r}{hint} (known: {', '.join(sorted(_OPTIMIZERS))})")
    return _OPTIMIZERS[key]


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
