"""Which of an optimizer's parameters a sparsity algorithm masks.

By default every parameter with two or more dimensions: the weight matrices of linear layers,
convolution kernels and embeddings. Biases and the scales and shifts of normalization layers
(vectors) and scalars stay dense: they are few, and pruning them costs accuracy for no saving.

``params`` (``param_filter`` is Cerebras' name for it) picks others:

* a glob pattern (``"encoder.*.weight"``) or a list of them, over parameter names, matched with
  :func:`fnmatch.fnmatchcase`; a pattern starting with ``!`` leaves the parameters it matches
  out (``["*", "!*embed*"]``), and a list of ``!`` patterns only leaves them out of the default.
  The names are the ``param_names`` of the optimizer's groups (torch >= 2.5 keeps them when the
  optimizer is built from ``model.named_parameters()``), or come from ``names=`` (a module or a
  ``{name: parameter}`` mapping);
* in Python also a list of the parameters themselves, or a callable ``(name, parameter) -> bool``
  (``name`` is ``None`` for a parameter without one).

Example:
    >>> import torch
    >>> from optimkit.optim import SGD
    >>> from optimkit.sparsity._params import select
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    >>> opt = SGD(model.named_parameters(), lr=0.1)
    >>> [name for name, _ in select(opt, None)]
    ['0.weight', '2.weight']
    >>> [name for name, _ in select(opt, ["*.weight", "!1.*"])]
    ['0.weight', '2.weight']
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import torch
from torch import Tensor

from .._binder import ConfigError, render_path

__all__ = ["ParamFilter", "default_filter", "named_parameters", "select"]

ParamFilter: TypeAlias = str | Sequence[str] | Sequence[Tensor] | Callable[[str | None, Tensor], bool]
"""What ``params`` may be: patterns, parameters, or a predicate (see the module docstring)."""


def default_filter(name: str | None, p: Tensor) -> bool:
    """The parameters masked by default: those with two or more dimensions."""
    return p.dim() >= 2


def named_parameters(
    optimizer: torch.optim.Optimizer, names: torch.nn.Module | Mapping[str, Tensor] | None = None
) -> Iterator[tuple[str | None, Tensor]]:
    """Every parameter of ``optimizer``, in its order (the numbering of its ``state_dict``), with
    its name: from ``names`` when given, else from the groups' ``param_names``, else ``None``."""
    by_tensor: dict[int, str] = {}
    if names is not None:
        items = names.named_parameters() if isinstance(names, torch.nn.Module) else names.items()
        by_tensor = {id(p): name for name, p in items}
    for group in optimizer.param_groups:
        group_names = group.get("param_names")
        for position, p in enumerate(group["params"]):
            name = by_tensor.get(id(p))
            if name is None and isinstance(group_names, (list, tuple)) and position < len(group_names):
                name = group_names[position]
            yield name, p


def _patterns(spec: str | Sequence[Any]) -> list[str] | None:
    """``spec`` as a list of patterns, or ``None`` when it is not one."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, Sequence) and spec and all(isinstance(s, str) for s in spec):
        return list(spec)
    return None


def select(
    optimizer: torch.optim.Optimizer,
    spec: ParamFilter | None,
    names: torch.nn.Module | Mapping[str, Tensor] | None = None,
    path: tuple[Any, ...] = ("params",),
) -> list[tuple[str | None, Tensor]]:
    """The ``(name, parameter)`` pairs of ``optimizer`` that ``spec`` picks, in optimizer order.

    Raises:
        ConfigError: (a ``ValueError``) at ``path``: patterns without parameter names, a pattern
            that matches no parameter, a list mixing patterns and other things, a parameter that
            the optimizer does not hold, an empty list, or a value of another type.
    """
    everything = list(named_parameters(optimizer, names))
    where = render_path(path)
    if spec is None:
        return [(n, p) for n, p in everything if default_filter(n, p)]
    patterns = _patterns(spec)
    if patterns is not None:
        unnamed = [n for n, _ in everything if n is None]
        if unnamed:
            raise ConfigError(
                f"{where}: patterns need parameter names, and {len(unnamed)} of the optimizer's {len(everything)} "
                "parameters have none; build the optimizer from model.named_parameters() (or pass names=model)",
                path=path)
        include = [p for p in patterns if not p.startswith("!")]
        exclude = [p[1:] for p in patterns if p.startswith("!")]
        for index, pattern in enumerate(patterns):
            bare = pattern[1:] if pattern.startswith("!") else pattern
            if not any(fnmatch.fnmatchcase(str(n), bare) for n, _ in everything):
                shown = ", ".join(str(n) for n, _ in everything[:8]) + (", ..." if len(everything) > 8 else "")
                at = path if isinstance(spec, str) else path + (index,)
                raise ConfigError(f"{render_path(at)}: {pattern!r} matches no parameter (names: {shown})", path=at)
        return [(n, p) for n, p in everything
                if (any(fnmatch.fnmatchcase(str(n), i) for i in include) if include else default_filter(n, p))
                and not any(fnmatch.fnmatchcase(str(n), e) for e in exclude)]
    if callable(spec) and not isinstance(spec, Tensor):
        return [(n, p) for n, p in everything if spec(n, p)]
    if isinstance(spec, Sequence) and not isinstance(spec, Tensor) and spec:
        held = {id(p) for _, p in everything}
        for index, item in enumerate(spec):
            if not isinstance(item, Tensor):
                raise ConfigError(f"{where}[{index}]={item!r} must be a pattern (a string) or a parameter, "
                                  "like every other item", path=path + (index,))
            if id(item) not in held:
                raise ConfigError(f"{where}[{index}] is a tensor of shape {tuple(item.shape)} that the optimizer "
                                  "does not hold", path=path + (index,))
        wanted = {id(p) for p in spec}
        return [(n, p) for n, p in everything if id(p) in wanted]
    if isinstance(spec, Sequence) and not spec:
        raise ConfigError(f"{where} is empty: give patterns or parameters (or leave it out: every parameter "
                          "with 2 or more dimensions)", path=path)
    raise ConfigError(f"{where}={spec!r} must be a pattern, a list of patterns or parameters, or a callable "
                      "(name, parameter) -> bool", path=path)
