"""Sparsity from a mapping: :func:`configure` (Python) and a config's ``sparsity`` section.

The mapping names the algorithm and gives its keyword arguments::

    {"algorithm": "gmp", "sparsity": 0.9, "schedule": {"end": 1000, "freq": 100}}

``algorithm`` is looked up in the sparsity registry (any case, aliases, close matches in the
error); every other key is bound to the algorithm's constructor by optimkit's one binder
(unknown keys with the closest valid one, missing ones, YAML 1.1 strings such as ``"1e-3"``
read as numbers), then each value is checked by the algorithm. Every mistake is a
:class:`~optimkit.config.ConfigError` (a ``ValueError``) at the key path of the bad value,
relative to the mapping for :func:`configure` and under ``sparsity`` for a config file, where
:func:`optimkit.config.load` turns the path into ``file:line:``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor

from .._binder import ConfigError, bind, unknown_name
from ..registry import SPARSITY, SPARSITY_NAMESPACES, UnknownNameError
from ._base import SparsityAlgorithm
from ._checks import ALGORITHM_WORDING, within

__all__ = ["SECTION", "attach_section", "configure", "dry_run"]

SECTION = "sparsity"
"""The top-level key of a config that holds the mapping."""

# Set while optimkit.config looks for a config's further mistakes: the sections it builds then
# are checked only, never applied (applying masks the caller's parameters, in place).
_DRY_RUN: ContextVar[bool] = ContextVar("optimkit_sparsity_dry_run", default=False)

# Constructor arguments that are not config keys, and Cerebras' name for ``params``.
_NOT_KEYS = ("optimizer", "names", "auto_step")
_ALIASES = {"param_filter": "params"}


@contextlib.contextmanager
def dry_run() -> Iterator[None]:
    """Within the block, :func:`attach_section` checks a section against the optimizer without
    changing anything (no masks applied, no hooks registered).

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> w = torch.nn.Parameter(torch.ones(2, 2))
        >>> with dry_run():
        ...     attach_section(SGD([w], lr=0.1), {"algorithm": "static", "sparsity": 0.5})
        >>> w.tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    token = _DRY_RUN.set(True)
    try:
        yield
    finally:
        _DRY_RUN.reset(token)


def _algorithm_class(section: Any) -> type[SparsityAlgorithm]:
    if not isinstance(section, Mapping):
        raise ConfigError(f"a sparsity config must be a mapping with an 'algorithm' key, got {section!r}")
    if "algorithm" not in section:
        raise ConfigError(f"missing the 'algorithm' key (one of: {', '.join(SPARSITY.names('*', 'sparsity'))})",
                          choices=SPARSITY.names("*", "sparsity"))
    name = section["algorithm"]
    if not isinstance(name, str):
        raise ConfigError(f"algorithm={name!r} must be a string naming a sparsity algorithm", path=("algorithm",))
    try:
        return SPARSITY.resolve(name, SPARSITY_NAMESPACES).cls
    except UnknownNameError as error:
        raise unknown_name(error, ("algorithm",), prefix="algorithm: ") from None


def _build(
    optimizer: torch.optim.Optimizer,
    section: Any,
    *,
    names: torch.nn.Module | Mapping[str, Tensor] | None,
    auto_step: bool,
    dry: bool,
) -> SparsityAlgorithm | None:
    cls = _algorithm_class(section)
    given = {key: value for key, value in section.items() if key != "algorithm"}
    kwargs = bind(cls, given, skip=_NOT_KEYS, aliases=_ALIASES, consumed=("algorithm",), what=cls.__name__,
                  wording=ALGORITHM_WORDING)
    # The constructor's defaults for the keys not given: its signature is the one declaration.
    defaults = {name: parameter.default for name, parameter in inspect.signature(cls.__init__).parameters.items()
                if parameter.default is not parameter.empty and name not in _NOT_KEYS}
    kwargs = {**defaults, **kwargs}
    algorithm = cls.__new__(cls)
    # Everything is checked (the parameters picked too) before anything changes.
    algorithm._setup(optimizer, names=names, params_key="param_filter" if "param_filter" in given else "params",
                     **kwargs)
    if dry:
        return None
    algorithm._start(auto_step=auto_step)
    return algorithm


def configure(
    optimizer: torch.optim.Optimizer,
    config: Mapping[str, Any],
    *,
    names: torch.nn.Module | Mapping[str, Tensor] | None = None,
    auto_step: bool = False,
) -> SparsityAlgorithm:
    """Sparsify ``optimizer``'s parameters as ``config`` says; the masks are applied at once.

    Call the result's ``step()`` after every ``optimizer.step()`` (or pass ``auto_step=True``).

    Args:
        optimizer: the optimizer (one sparsity algorithm per optimizer).
        config: ``{"algorithm": NAME, "sparsity": LEVEL, ...}``: the registered name (``static``,
            ``gmp``, ``set``, ``rigl``; any case) and the algorithm's keyword arguments.
        names: parameter names for ``params`` patterns when the optimizer's groups have none
            (a module, or a ``{name: parameter}`` mapping).
        auto_step: step the algorithm from a step post-hook after every ``optimizer.step()``.

    Returns:
        the algorithm, also found later as :func:`optimkit.sparsity.attached` ``(optimizer)``.

    Raises:
        ConfigError: (a ``ValueError``) an unknown algorithm or key (with the closest ones), a
            missing key, a bad value, a pattern that matches no parameter: ``error.path`` is the
            key path in ``config``.
        ValueError: the optimizer already has a sparsity algorithm.

    Example:
        >>> import torch
        >>> from optimkit.optim import AdamW
        >>> from optimkit.sparsity import configure
        >>> model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        >>> opt = AdamW(model.named_parameters(), lr=1e-2)
        >>> sparsity = configure(opt, {"algorithm": "gmp", "sparsity": 0.75, "params": "0.weight",
        ...                            "schedule": {"end": 10, "freq": 2}})
        >>> for _ in range(10):
        ...     model(torch.randn(8, 16)).pow(2).mean().backward()
        ...     opt.step(); opt.zero_grad(); sparsity.step()
        >>> sparsity.actual_sparsity(), [opt.param_groups[0]["param_names"][i] for i in sparsity.state_dict()["masks"]]
        (0.75, ['0.weight'])
        >>> try:
        ...     configure(AdamW(model.parameters()), {"algorithm": "gmpp", "sparsity": 0.5})
        ... except ValueError as error:
        ...     print(error)
        algorithm: unknown sparsity algorithm 'gmpp'; did you mean gmp? (valid: gmp, rigl, set, static)
    """
    algorithm = within((), _build, optimizer, config, names=names, auto_step=auto_step, dry=False)
    assert algorithm is not None
    return algorithm


def attach_section(optimizer: torch.optim.Optimizer, section: Any) -> SparsityAlgorithm | None:
    """A config's ``sparsity`` section on ``optimizer``, stepped automatically after every
    ``optimizer.step()`` (:func:`optimkit.config.load`'s one call); ``None`` in a :func:`dry_run`.

    Raises:
        ConfigError: at ``("sparsity", ...)``, the key path of the bad value in the config.
    """
    return within((SECTION,), _build, optimizer, section, names=None, auto_step=True, dry=_DRY_RUN.get())
