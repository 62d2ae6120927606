r"""The generator of the Cerebras optimizers: one table row in, one class out.

A Cerebras optimizer of this package adds no mathematics to the :mod:`optimkit.optim` class that
owns its update rule; it differs in its *signature* only. A :class:`Facade` row says how, in
Cerebras' terms:

* ``parent``: the optimkit class, whose rule, state and ``state_dict`` layout the facade keeps;
* ``arguments``: Cerebras' arguments after ``params``, in Cerebras' order, each an argument of the
  parent (under its own name, or under another one given in ``renamed``) or one of ``options``;
  the parent's other arguments (``foreach``, ``fused``, ``differentiable``, ``capturable``, and
  those Cerebras leaves out, such as Adam's ``maximize``) are not taken, so they keep the
  parent's defaults;
* ``renamed``: Cerebras' name -> the parent's, for an argument Cerebras calls otherwise (the
  parameter groups and ``state_dict`` keep the parent's names: the layout is the parent's);
* ``defaults``: Cerebras' defaults where they are spelled differently from the parent's
  (:data:`REQUIRED` for an argument without one);
* ``options``: group options that the parent's *rule* reads but its constructor does not take
  (AdamW's ``correct_bias``, a switch of :func:`optimkit.optim.adam.adam_rule`);
* ``global_step``: whether Cerebras builds the class with ``enable_global_step=True``;
* registry and documentation facts: ``description``, an optional ``summary`` sentence and
  ``notes``, argument descriptions that replace the parent's (``docs``), and a runnable
  ``example``.

:func:`build_facade` turns a row into a real class: a subclass of ``parent`` (and of the row's
``bases``) whose ``__init__`` has the Cerebras signature as its ``__signature__`` (what
``inspect.signature``, the config binder, ``optimkit show`` and the generated reference read),
whose docstring is derived from the parent's (its mathematics and argument descriptions, with
Cerebras' defaults), and which is a virtual subclass of the abstract Cerebras
:class:`~optimkit.cerebras.optim.Optimizer`. Its constructor runs the parent's, then creates all
state, as Cerebras' optimizers do. :func:`register_facade` enters it in the ``"cerebras"``
registry with the capability flags read from that signature.

Example:
    >>> import inspect
    >>> import optimkit.optim as ok
    >>> from optimkit.cerebras.optim._facades import Facade, build_facade
    >>> row = Facade("Heavy", ok.SGD, arguments=("lr", "momentum"), defaults={"momentum": 0.9},
    ...              description="SGD with momentum 0.9 by default", example="    >>> 1 + 1\n    2\n")
    >>> Heavy = build_facade(row, module=__name__)
    >>> [(p.name, p.default) for p in inspect.signature(Heavy).parameters.values()][1:]
    [('lr', 0.001), ('momentum', 0.9)]
    >>> import torch
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = Heavy([w], lr=0.1)
    >>> issubclass(Heavy, ok.SGD), opt.defaults["momentum"], list(opt.state[w])  # state made at once
    (True, 0.9, ['momentum_buffer'])
"""

from __future__ import annotations

import contextlib
import inspect
import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from optimkit.optim import Optimizer as _OptimkitOptimizer
from optimkit.optim._declaration import capabilities
from optimkit.registry import register_optimizer

from .optimizer import Optimizer, initialize_state

__all__ = ["REQUIRED", "Facade", "Option", "build_facade", "facade_doc", "register_facade"]

_P = TypeVar("_P", bound=_OptimkitOptimizer)

REQUIRED: Any = inspect.Parameter.empty
"""The default of an argument that Cerebras makes required (``SGD``'s ``lr``)."""

_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD


@dataclass(frozen=True)
class Option:
    """A group option a facade takes besides its parent's arguments: the parent's rule reads it
    from the group (a keyword argument of the rule with a default), the parent's constructor does
    not know it.

    Attributes:
        annotation: its type, for the signature and the config binder.
        default: the value of a group that does not set it; also what a checkpoint without it
            (torch's own ``state_dict``) gets when loaded.
        doc: the description in the ``Args:`` section (without the default).
    """

    annotation: Any
    default: Any
    doc: str


@dataclass(frozen=True)
class Facade:
    """One Cerebras optimizer: its optimkit parent and how Cerebras' signature differs (see the
    module docstring for each field)."""

    name: str
    parent: type[_OptimkitOptimizer]
    arguments: tuple[str, ...]
    description: str
    example: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Option] = field(default_factory=dict)
    global_step: bool = False
    bases: tuple[type, ...] = ()
    summary: str = ""
    notes: str = ""
    docs: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------- signature
def _parent_parameters(parent: type[_OptimkitOptimizer]) -> dict[str, inspect.Parameter]:
    """The parent constructor's parameters after ``self``, with their annotations resolved (the
    optimkit modules use ``from __future__ import annotations``: the strings would mean nothing
    outside them)."""
    init = parent.__init__
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # an annotation that cannot be evaluated: keep the strings
        hints = {}
    parameters = list(inspect.signature(init).parameters.values())[1:]
    return {p.name: p.replace(annotation=hints.get(p.name, p.annotation)) for p in parameters}


@contextlib.contextmanager
def _naming_overflow(name: str, values: Mapping[str, Any], groups: Callable[[], list[dict[str, Any]]]) -> Iterator[None]:
    """A value the state is created from (Adagrad's initial_accumulator_value) beyond the range
    of the parameters' dtype makes torch raise RuntimeError: raise a ValueError naming it
    instead, as the other argument checks of the Cerebras classes do."""
    try:
        yield
    except RuntimeError as error:
        if "without overflow" not in str(error):
            raise
        try:
            culprits = _overflowing(values, groups())
        except Exception:  # noqa: BLE001 - no parameter groups yet: name none
            culprits = ""
        raise ValueError(f"{name}: {culprits or 'an argument'} does not fit the parameters' dtype ({error})") from None


def _overflowing(values: Mapping[str, Any], groups: list[dict[str, Any]]) -> str:
    """The arguments among ``values`` whose number exceeds the largest value of some parameter's
    floating-point dtype, as ``name=value`` text."""
    largest = min((torch.finfo(p.dtype).max for group in groups for p in group["params"] if p.is_floating_point()),
                  default=float("inf"))
    return ", ".join(
        f"{name}={value!r}" for name, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > largest
    )


def _signature(row: Facade) -> inspect.Signature:
    """``(self, params, <row.arguments>)``: every argument positional-or-keyword, as Cerebras has
    them, with the parent's annotations and Cerebras' defaults."""
    inherited = _parent_parameters(row.parent)
    unknown = [name for name in row.arguments if _source(row, name) not in inherited and name not in row.options]
    unknown += [name for name in (*row.defaults, *row.renamed, *row.options) if name not in row.arguments]
    if unknown or "params" not in inherited:
        raise ValueError(f"{row.name}: {', '.join(unknown) or 'params'} is no argument of "
                         f"{row.parent.__name__} nor an option of the row")
    parameters = [inspect.Parameter("self", _POSITIONAL), inherited["params"].replace(kind=_POSITIONAL)]
    for name in row.arguments:
        if name in row.options:
            option = row.options[name]
            parameters.append(inspect.Parameter(name, _POSITIONAL, default=option.default,
                                                annotation=option.annotation))
        else:
            source = inherited[_source(row, name)]
            default = row.defaults.get(name, source.default)
            parameters.append(source.replace(name=name, kind=_POSITIONAL, default=default))
    return inspect.Signature(parameters, return_annotation=None)


def _source(row: Facade, name: str) -> str:
    """The parent's name of the Cerebras argument ``name``."""
    return row.renamed.get(name, name)


# ----------------------------------------------------------------------------- docstring
_ENTRY = re.compile(r"^(?P<name>\w+) \((?P<kind>[^)]*)\): (?P<text>.*?)(?: \(default: .*\))?\.?$", re.S)


def _split_parent_doc(parent: type) -> tuple[str, str, dict[str, tuple[str, str]]]:
    """The parent's docstring in three parts: its title (the algorithm's name), its body (the
    paragraphs and mathematics between the first paragraph and ``Args:``), and its arguments as
    ``name -> (kind, description)`` without the defaults."""
    lines = inspect.cleandoc(parent.__doc__ or "").splitlines()
    head_end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    head = " ".join(line.strip() for line in lines[:head_end])
    # "Adam (Kingma & Ba, 2015, ...), as ``torch.optim.Adam``." -> the part before "as ``torch..."
    named = re.match(r"(.+?),? (?:as ``|with the signature)", head)
    title = named.group(1) if named else (re.split(r",| \(", head, maxsplit=1)[0].strip() or parent.__name__)
    args_at = next((i for i, line in enumerate(lines) if line.strip() == "Args:"), len(lines))
    body = "\n".join(lines[head_end:args_at]).strip("\n")
    block: list[str] = []
    for line in lines[args_at + 1:]:
        if not line.startswith("    "):
            break  # a blank line or the next section
        if line.startswith("     ") and block:
            block[-1] += " " + line.strip()  # a deeper line continues the entry above
        else:
            block.append(line.strip())
    entries = {match["name"]: (match["kind"], match["text"]) for match in map(_ENTRY.match, block) if match}
    return title, body, entries


def _kind(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def _args_section(row: Facade, signature: inspect.Signature, parent_args: Mapping[str, tuple[str, str]]) -> str:
    lines = ["Args:"]
    for parameter in list(signature.parameters.values())[1:]:
        name = parameter.name
        if name in row.options:
            kind, text = f"{_kind(row.options[name].annotation)}, optional", row.options[name].doc
        else:
            kind, text = parent_args.get(_source(row, name), ("", f"see :class:`optimkit.optim.{row.parent.__name__}`"))
            text = row.docs.get(name, text)
        if parameter.default is REQUIRED:
            kind = kind.replace(", optional", "")
            lines.append(f"    {name} ({kind}): {text}.")
        else:
            lines.append(f"    {name} ({kind}): {text} (default: {parameter.default!r}).")
    return "\n".join(lines)


def facade_doc(row: Facade, signature: inspect.Signature) -> str:
    """The docstring of a facade, derived from its parent's: a first paragraph naming Cerebras'
    class and what the facade changes (Cerebras' defaults that differ from the parent's, the
    arguments it does not take, the global step), then the parent's own description and
    mathematics, the row's notes, the ``Args:`` of the Cerebras signature (the parent's
    descriptions, Cerebras' defaults) and the row's example."""
    title, body, parent_args = _split_parent_doc(row.parent)
    inherited = _parent_parameters(row.parent)
    taken = signature.parameters
    sources = {name: inherited[_source(row, name)] for name in row.arguments if name not in row.options}
    changed = [
        f"``{name}={taken[name].default!r}`` (optimkit: ``{source.default!r}``)"
        for name, source in sources.items()
        if taken[name].default is not REQUIRED and not _same(taken[name].default, source.default)
    ]
    required = [f"``{name}`` (optimkit: ``{source.default!r}``)" for name, source in sources.items()
                if taken[name].default is REQUIRED and source.default is not REQUIRED]
    renamed = [f"``{name}`` (optimkit: ``{source}``)" for name, source in row.renamed.items()]
    used = {source.name for source in sources.values()}
    dropped = [f"``{name}``" for name in inherited if name != "params" and name not in used]
    first = (f"{title}, as ``cerebras.pytorch.optim.{row.name}``: the update of "
             f":class:`optimkit.optim.{row.parent.__name__}` behind Cerebras' signature")
    first += ", with a per-parameter global step." if row.global_step else "."
    facts = []
    if changed:
        facts.append("Cerebras' defaults differ from optimkit's: " + ", ".join(changed) + ".")
    if required:
        facts.append("Required, without a default: " + ", ".join(required) + ".")
    if renamed:
        facts.append("Renamed: " + ", ".join(renamed) + "; parameter groups keep optimkit's names.")
    if dropped:
        facts.append(f"Not taken (optimkit's defaults apply): {', '.join(dropped)}.")
    if row.global_step:
        facts.append("As Cerebras builds it with ``enable_global_step=True``, each parameter also keeps a "
                     "float32 ``global_step`` that every step advances.")
    parts = [" ".join(filter(None, [first, row.summary])), " ".join(facts), body, row.notes.strip("\n"),
             _args_section(row, signature, parent_args), "Example:\n" + row.example.rstrip("\n")]
    return "\n\n".join(part for part in parts if part) + "\n"


def _same(a: Any, b: Any) -> bool:
    """Equal values (``0.0`` and ``0`` are: Cerebras only spells some defaults as floats)."""
    try:
        return bool(a == b)
    except Exception:
        return a is b


# ---------------------------------------------------------------------------------- class
def build_facade(row: Facade, module: str) -> type[_OptimkitOptimizer]:
    """The class described by ``row``, as if written in ``module`` (its ``__module__``: pickles,
    reprs and the generated reference name it there, so ``module`` must bind it under
    ``row.name``).

    Raises:
        ValueError: a row whose ``arguments``, ``defaults`` or ``options`` name something that is
            neither an argument of the parent nor an option of the row.
    """
    signature = _signature(row)
    parent, options = row.parent, dict(row.options)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as error:  # the message of a real signature, with the class named
            raise TypeError(f"{row.name}.__init__() {error}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        del values["self"]
        chosen = {name: values.pop(name) for name in options}
        # By keyword and by the parent's names: the parent's order need not be Cerebras'.
        with _naming_overflow(row.name, values, lambda: self.param_groups):
            parent.__init__(self, **{_source(row, name): value for name, value in values.items()})
        for name, value in chosen.items():
            # A group option like the parent's own, so that a parameter group may override it.
            self.defaults[name] = value
            for group in self.param_groups:
                group.setdefault(name, value)
        if row.global_step:
            self.enable_global_step = True
        with _naming_overflow(row.name, values, lambda: self.param_groups):
            initialize_state(self)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    # Resolved types, for typing.get_type_hints (the config binder coerces values by them).
    __init__.__annotations__ = {
        p.name: p.annotation for p in signature.parameters.values() if p.annotation is not p.empty
    } | {"return": None}
    __init__.__qualname__ = f"{row.name}.__init__"
    __init__.__module__ = module
    __init__.__doc__ = f"Build a Cerebras {row.name}; see the class for the arguments."
    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__doc__": facade_doc(row, signature),
        "__module__": module,
        "__qualname__": row.name,
        # A facade takes no executor flags: it runs the rule the way Cerebras' reference does, and
        # the rule's extra options (correct_bias) are not all in torch's fused kernels.
        "_fused_by_default": False,
    }
    if options:

        def __setstate__(self: Any, state: dict[str, Any]) -> None:
            parent.__setstate__(self, state)
            # A checkpoint of the parent (torch's own) lacks the options this class adds.
            for group in self.param_groups:
                for name, option in options.items():
                    group.setdefault(name, option.default)

        __setstate__.__qualname__ = f"{row.name}.__setstate__"
        __setstate__.__module__ = module
        namespace["__setstate__"] = __setstate__
    cls = type(row.name, (parent, *row.bases), namespace)
    # Cerebras' Optimizer declares `step` and `preinitialize` abstract for classes written against
    # it; a facade has the parent's (concrete) ones, so it is registered as an implementation
    # rather than made a subclass whose MRO would put those abstract stubs first.
    Optimizer.register(cls)
    return cls


def register_facade(row: Facade, cls: type[_P]) -> type[_P]:
    """Enter ``cls`` under ``row.name`` (lower case) in the ``"cerebras"`` registry, with the
    capability flags read from its signature (no ``foreach``, ``fused`` or ``differentiable``:
    a facade takes none) and its parent's complex and sparse support."""
    return register_optimizer(row.name.lower(), description=row.description, torch_name=None,
                              namespace="cerebras", **capabilities(cls))(cls)
