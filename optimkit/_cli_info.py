"""``optimkit list`` and ``optimkit show``: the registries as tables, one class in detail.

Everything here prints plain text: docstrings are written in reStructuredText for the generated
reference, and :mod:`optimkit._text` strips their markup and turns their math into Unicode.

Example:
    >>> from optimkit._cli_info import describe
    >>> print(describe("steplr").splitlines()[1])
    Decay by gamma every step_size steps.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from typing import Any

from ._cli_support import CLIError, similar_names
from ._text import docstring_text, sentence

__all__ = ["describe", "list_command", "optimizer_table", "scheduler_table", "show_command"]

_FLAG_COLUMNS = ("betas", "momentum", "foreach", "fused", "differentiable", "complex", "sparse")
NAMESPACES = ("optim", "cerebras")
_WIDTH = 100  # the width the docstring text is wrapped to


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, as wide as their widest cell; the last column is not padded."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]

    def fmt(row: list[str]) -> str:
        return ("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + "  " + str(row[-1])).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths] + ["-" * 11]), *map(fmt, rows)])


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def optimizer_table(pattern: str = "*", *, markdown: bool = False, namespace: str = "optim") -> str:
    """A table of the registered optimizers matching ``pattern`` with their capabilities.

    Example:
        >>> from optimkit.cli import optimizer_table
        >>> print(optimizer_table("sgd").splitlines()[2].split()[:3])
        ['sgd', 'SGD', '-']
    """
    from .registry import get_optimizer, list_optimizers

    header = ["name", "class", *_FLAG_COLUMNS, "description"]
    rows = []
    for name in list_optimizers(pattern, namespace=namespace):
        spec = get_optimizer(name, namespace=namespace)
        flags = spec.capabilities()
        rows.append([name, spec.cls.__name__, *("yes" if flags[c] else "-" for c in _FLAG_COLUMNS), spec.description])
    return _markdown_table(header, rows) if markdown else _format_table(header, rows)


def scheduler_table(pattern: str = "*", *, markdown: bool = False, namespace: str = "optim") -> str:
    """A table of the registered schedulers matching ``pattern``.

    Example:
        >>> from optimkit.cli import scheduler_table
        >>> print(scheduler_table("steplr").splitlines()[2].split()[:3])
        ['steplr', 'StepLR', 'StepLR']
    """
    from .registry import get_scheduler, list_schedulers

    header = ["name", "class", "torch", "closed form", "description"]
    rows = []
    for name in list_schedulers(pattern, namespace=namespace):
        spec = get_scheduler(name, namespace=namespace)
        rows.append([name, spec.cls.__name__, spec.torch_name or "-", "yes" if has_closed_form(spec.cls) else "-", spec.description])
    return _markdown_table(header, rows) if markdown else _format_table(header, rows)


def has_closed_form(cls: type) -> bool:
    """Whether ``cls`` overrides the base class's ``lr_at`` (which raises)."""
    from .optim.lr_scheduler import LRScheduler

    lr_at = getattr(cls, "lr_at", None)
    return lr_at is not None and lr_at is not LRScheduler.lr_at


def all_names(kind: str) -> list[str]:
    """Every registered name of ``kind`` (``"optimizer"`` or ``"scheduler"``), torch's namespace
    first, for "did you mean"."""
    from .registry import list_optimizers, list_schedulers

    listing = list_optimizers if kind == "optimizer" else list_schedulers
    return list(dict.fromkeys(name for namespace in NAMESPACES for name in listing("*", namespace=namespace)))


def sparsity_table(pattern: str = "*") -> str:
    """A table of the registered sparsity algorithms (:mod:`optimkit.sparsity`) matching ``pattern``.

    Example:
        >>> from optimkit._cli_info import sparsity_table
        >>> print(sparsity_table("gmp").splitlines()[2].split()[:3])
        ['gmp', 'GMP', 'Gradual']
    """
    from .registry import SPARSITY, list_sparsity

    rows = [[name, SPARSITY.get(name, "sparsity").cls.__name__, SPARSITY.get(name, "sparsity").description]
            for name in list_sparsity(pattern)]
    return _format_table(["name", "class", "description"], rows)


def _list_sparsity(words: list[str]) -> int:
    """``optimkit list sparsity [PATTERN]``: one table, whatever ``--namespace`` says (the
    algorithms have one namespace)."""
    from .registry import list_sparsity

    if len(words) > 1:
        raise CLIError(f"expected at most one pattern, got {' '.join(words)}")
    pattern = words[0] if words else "*"
    if not list_sparsity(pattern):
        close = similar_names(pattern.strip("*?[]"), list_sparsity()) if pattern.strip("*?[]") else []
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CLIError(f"no sparsity algorithm matches {pattern!r}{hint} (see: optimkit list sparsity)")
    print(sparsity_table(pattern))
    return 0


def list_command(args: argparse.Namespace) -> int:
    """``optimkit list [optimizers|schedulers|sparsity] [PATTERN] [--namespace NS]``."""
    words = list(args.words)
    if words and words[0] == "sparsity":
        return _list_sparsity(words[1:])
    kinds = ["optimizers", "schedulers"]
    if words and words[0] in kinds:
        kinds = [words.pop(0)]
    if len(words) > 1:
        raise CLIError(f"expected at most one pattern, got {' '.join(words)}")
    pattern = words[0] if words else "*"
    namespaces = list(NAMESPACES) if args.namespace == "all" else [args.namespace]
    tables = []
    for kind in kinds:
        make = optimizer_table if kind == "optimizers" else scheduler_table
        for namespace in namespaces:
            table = make(pattern, namespace=namespace)
            if len(table.splitlines()) > 2:
                facade = "optimkit.optim" if namespace == "optim" else "optimkit.cerebras.optim"
                tables.append((f"{kind} ({facade})", table))
    if not tables:
        # Nothing matched: the same one-line error and status 2 as every other command's mistake.
        what = {"optimizers": "optimizer", "schedulers": "scheduler"}
        names = [n for k in kinds for n in all_names(what[k])]
        close = similar_names(pattern.strip("*?[]"), names) if pattern.strip("*?[]") else []
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        where = "" if args.namespace == "all" else f" in --namespace {args.namespace}"
        raise CLIError(f"no {' or '.join(what[k] for k in kinds)} matches {pattern!r}{where}{hint} (see: optimkit list)")
    for i, (heading, table) in enumerate(tables):
        if len(tables) > 1:
            print(("\n" if i else "") + heading)
        print(table)
    return 0


def _find(name: str) -> tuple[str, Any]:
    """``("optimizer" | "scheduler", spec)`` for a name from either registry and namespace."""
    from .registry import OPTIMIZERS, SCHEDULERS, UnknownNameError

    try:
        return "optimizer", OPTIMIZERS.resolve(name)
    except UnknownNameError:
        try:
            return "scheduler", SCHEDULERS.resolve(name, suffixes=("lr",), unique_prefix=True)
        except UnknownNameError as no_scheduler:
            bare = no_scheduler.name
    close = similar_names(bare, all_names("optimizer") + all_names("scheduler"))
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise CLIError(f"no optimizer or scheduler is called {bare!r}{hint} (see: optimkit list)")


def signature_of(cls: type) -> inspect.Signature:
    """The constructor's signature as a user calls it.

    A class whose ``__init__`` only forwards ``(*args, **kwargs)`` (a wrapper, a facade) shows the
    signature it forwards to: its ``__signature__``, or that of the function it wraps, or the
    first base class that has a real one.
    """
    def real(sig: inspect.Signature) -> bool:
        kinds = {p.kind for p in sig.parameters.values()}
        return not kinds or not kinds <= {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}

    sig = inspect.signature(cls)
    if real(sig):
        return sig
    for klass in cls.__mro__[1:]:
        if klass is object:
            break
        try:
            candidate = inspect.signature(klass)
        except (TypeError, ValueError):
            continue
        if real(candidate):
            return candidate
    return sig


def _signature(cls: type) -> str:
    """``Name(arg, arg=default, *, flag=default)`` without the annotations."""
    sig = signature_of(cls)
    bare = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                       return_annotation=sig.empty)
    return f"{cls.__name__}{bare}"


def _split_arguments(inside: str) -> list[str]:
    """``"a, b=(1, 2), *, c='x, y'"`` -> ``["a", "b=(1, 2)", "*", "c='x, y'"]``: commas at depth 0 only."""
    parts, depth, quote, current = [], 0, "", ""
    for char in inside:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    return parts + ([current.strip()] if current.strip() else [])


def _wrap_signature(text: str, indent: str = "  ", width: int = _WIDTH) -> str:
    """A long signature broken between arguments, continuation lines aligned after the ``(``.

    Example:
        >>> from optimkit._cli_info import _wrap_signature
        >>> print(_wrap_signature("f(a, b=(1, 2), *, c='x, y')", width=16))
          f(a, b=(1, 2),
            *, c='x, y')
    """
    if len(indent) + len(text) <= width:
        return indent + text
    head, _, rest = text.partition("(")
    arguments = _split_arguments(rest[: rest.rindex(")")])
    pad = " " * (len(indent) + len(head) + 1)
    lines, line = [], f"{indent}{head}("
    for i, argument in enumerate(arguments):
        piece = argument + (")" if i == len(arguments) - 1 else ",")
        if line.strip() and not line.endswith("(") and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = pad + piece
        else:
            line += ("" if line.endswith("(") else " ") + piece
    lines.append(line)
    return "\n".join(lines)


def describe(name: str) -> str:
    """What ``optimkit show NAME`` prints, as plain text: kind, class, signature, defaults,
    capabilities, and the docstring's prose and math.

    Raises:
        CLIError: for an unknown name (with close matches).

    Example:
        >>> from optimkit.cli import describe
        >>> text = describe("adamw")
        >>> text.splitlines()[0]
        'adamw: optimizer optimkit.optim.AdamW (same as torch.optim.AdamW)'
        >>> [line.split() for line in text.splitlines() if line.startswith("  lr ")]
        [['lr', '=', '0.001']]
        >>> "``" in text or ":class:" in text or "\\\\" in text
        False
    """
    kind, spec = _find(name)
    cls = spec.cls
    facade = "optimkit.optim" if spec.namespace == "optim" else "optimkit.cerebras.optim"
    if kind == "scheduler":
        facade += ".lr_scheduler" if "lr_scheduler" in cls.__module__ else ""
        if cls.__module__.endswith("swa_utils"):
            facade = "optimkit.optim.swa_utils"
    torch_module = "torch.optim" if kind == "optimizer" else "torch.optim.lr_scheduler"
    same = f" (same as {torch_module}.{spec.torch_name})" if spec.torch_name else ""
    prefix = "" if spec.namespace == "optim" else "cerebras:"
    lines = [f"{prefix}{spec.name}: {kind} {facade}.{cls.__name__}{same}", sentence(spec.description), "", "signature:"]
    lines.append(_wrap_signature(_signature(cls)))
    skip = ("params", "optimizer", "last_epoch")
    parameters = signature_of(cls).parameters.values()
    defaults = [(p.name, repr(p.default)) for p in parameters if p.default is not p.empty and p.name not in skip]
    if defaults:
        width = max(len(k) for k, _ in defaults)
        lines += ["", "defaults:"] + [f"  {k.ljust(width)} = {v}" for k, v in defaults]
    required = [p.name for p in parameters if p.default is p.empty and p.name not in skip
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        lines += ["", "required: " + ", ".join(required)]
    lines.append("")
    if kind == "optimizer":
        flags = spec.capabilities()
        lines.append("capabilities: " + (", ".join(k for k, v in flags.items() if v) or "-"))
        lines.append("not supported: " + (", ".join(k for k, v in flags.items() if not v) or "-"))
    else:
        extras = ["closed form (lr_at)"] if has_closed_form(cls) else ["no closed form (stepped only)"]
        if "cycle_momentum" in inspect.signature(cls).parameters:  # (every scheduler has momentum_at)
            extras.append("cycles momentum / betas[0] (momentum_at)")
        key = getattr(cls, "param_group_key", None)
        if key and key != "lr":
            extras.append(f"drives {key}")
        lines.append("capabilities: " + ", ".join(extras))
    about = docstring_text(cls.__doc__, width=_WIDTH)
    if about:
        lines += ["", about]
    return "\n".join(lines)


def show_command(args: argparse.Namespace) -> int:
    """``optimkit show NAME``."""
    text = describe(args.name)
    try:
        print(text)
    except UnicodeEncodeError:
        # A terminal that cannot show the math's Greek letters (PYTHONIOENCODING=ascii): "?" for them.
        encoding = sys.stdout.encoding or "ascii"
        print(text.encode(encoding, "replace").decode(encoding))
    return 0
