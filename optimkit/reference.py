r"""``docs/reference.md``: one section per registered optimizer and scheduler, generated from the
registries (``python scripts/update_docs.py``; ``tests/test_docs.py`` fails when it is stale).

Each section gives the signature, the defaults, the docstring's first paragraph and its math
(``.. math::`` blocks, as GitHub ``math`` fences) and example; scheduler sections add a small
plot of the default shape (``docs/img/schedulers/*.png``), drawn from the closed forms with the
scheduler's defaults and name-based sample values for its required arguments
(:func:`optimkit.schedule_plot.sample_arguments`).

Example:
    >>> from optimkit.reference import docstring_parts
    >>> doc = "Summary line.\n\n.. math:: x_{t+1} = x_t - g_t\n\nExample:\n    >>> 1 + 1\n    2\n"
    >>> parts = docstring_parts(doc)
    >>> parts.summary, parts.math, parts.example.splitlines()
    ('Summary line.', ['x_{t+1} = x_t - g_t'], ['>>> 1 + 1', '2'])
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DocParts", "ImageJob", "docstring_parts", "render", "scheduler_images", "signature_text", "write_images"]

NAMESPACES = ("optim", "cerebras")
_FACADES = {"optim": "optimkit.optim", "cerebras": "optimkit.cerebras.optim"}
IMAGE_DIR = "img/schedulers"
"""Where the scheduler plots go, relative to the reference page's folder."""


@dataclass
class DocParts:
    """The pieces of a docstring the reference shows."""

    summary: str = ""
    math: list[str] = field(default_factory=list)
    example: str = ""


def _rst_inline(text: str) -> str:
    """reStructuredText inline markup to Markdown: ``code``, :math:`x`, :class:`~a.B`."""
    text = re.sub(r":math:`([^`]+)`", r"$\1$", text)
    text = re.sub(r":(?:class|func|meth|mod|attr|data|obj|exc):`~[^`]*?([^.`]+)`", r"`\1`", text)
    text = re.sub(r":(?:class|func|meth|mod|attr|data|obj|exc):`([^`]+)`", r"`\1`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def docstring_parts(doc: str | None) -> DocParts:
    """The first paragraph, the ``.. math::`` blocks and the ``Example:`` section of a docstring."""
    if not doc:
        return DocParts()
    lines = inspect.cleandoc(doc).splitlines()
    parts = DocParts()
    first: list[str] = []
    for line in lines:
        if not line.strip():
            break
        first.append(line.strip())
    parts.summary = " ".join(first)
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.startswith(".. math::"):
            inline = stripped[len(".. math::"):].strip()
            block: list[str] = [inline] if inline else []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            body = textwrap.dedent("\n".join(b for b in block)).strip("\n")
            if body:
                parts.math.append(body.strip())
            continue
        if stripped in ("Example:", "Examples:") and not parts.example:
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            parts.example = textwrap.dedent("\n".join(block)).strip("\n")
            continue
        i += 1
    return parts


def signature_text(cls: type) -> str:
    """``Name(arg, arg=default, *, flag=default)``: the constructor's signature without annotations.

    Example:
        >>> from optimkit.reference import signature_text
        >>> from optimkit.optim import SGD
        >>> signature_text(SGD)[:40]
        'SGD(params, lr=0.001, momentum=0, dampen'
    """
    sig = inspect.signature(cls)
    bare = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                       return_annotation=sig.empty)
    return f"{cls.__name__}{bare}"


def _defaults(cls: type) -> list[tuple[str, str]]:
    skip = ("params", "optimizer", "last_epoch")
    return [(p.name, repr(p.default)) for p in inspect.signature(cls).parameters.values()
            if p.default is not p.empty and p.name not in skip]


def _anchor(kind: str, namespace: str, name: str) -> str:
    return f"{namespace}-{kind}-{name}"


def _short(value: Any) -> str:
    """A readable rendering of a sample argument (functions and schedulers by their names)."""
    if isinstance(value, list) and value and not isinstance(value[0], (int, float, str)):
        return "[" + ", ".join(type(v).__name__ + "(...)" for v in value) + "]"
    if callable(value):
        return "<function>"
    return repr(value)


@dataclass
class ImageJob:
    """One scheduler plot: where it goes and how it is made."""

    path: str
    title: str
    caption: str
    factory: Callable[[], tuple[Any, Any]]
    steps: int


def _scheduler_job(spec: Any) -> tuple[ImageJob | None, str]:
    """The plot of a scheduler's default shape, or ``None`` and the reason there is none."""
    from .schedule_plot import _placeholder_optimizer, build_named, curves, default_length, sample_arguments, scheduler_arguments

    cls = spec.cls
    samples = sample_arguments(cls, _placeholder_optimizer())
    if samples is None:
        required = [p.name for p in scheduler_arguments(cls) if p.default is p.empty]
        return None, f"needs {', '.join(required)}, which has no generic sample value"
    defaults = {p.name: p.default for p in scheduler_arguments(cls) if p.default is not p.empty}
    # The sample composites (warmup + decay) last 100 steps.
    steps = 100 if "schedulers" in samples else max(30, default_length({**defaults, **samples}))
    qualified = f"{spec.namespace}:{spec.name}"

    def factory() -> tuple[Any, Any]:
        return build_named(qualified, {}, samples=True)

    try:
        c = curves(factory, steps)
    except (ValueError, TypeError) as err:
        return None, str(err).split(";")[0]
    shown = ", ".join(f"{k}={_short(v)}" for k, v in samples.items())
    caption = (f"`{cls.__name__}({shown})` on `SGD(lr=0.1, momentum=0.9)`, {len(c.steps)} steps"
               + ("" if c.closed_form >= set(c.series) else " (stepped: no closed form)"))
    path = f"{IMAGE_DIR}/{spec.namespace}-{spec.name}.png"
    return ImageJob(path, f"{cls.__name__}: default shape", caption, factory, len(c.steps)), ""


def _specs(kind: str) -> Iterator[tuple[str, list[Any]]]:
    from .registry import optimizer_specs, scheduler_specs

    for namespace in NAMESPACES:
        yield namespace, (optimizer_specs(namespace) if kind == "optimizer" else scheduler_specs(namespace))


def scheduler_images() -> list[ImageJob]:
    """Every scheduler plot the reference links to."""
    jobs = []
    for _, specs in _specs("scheduler"):
        for spec in specs:
            job, _ = _scheduler_job(spec)
            if job is not None:
                jobs.append(job)
    return jobs


def write_images(root: str | Path) -> list[Path]:
    """Draw every scheduler plot under ``root`` (the reference page's folder); returns the files."""
    from .schedule_plot import curves, plot_curves

    written = []
    for job in scheduler_images():
        c = curves(job.factory, job.steps)
        written.append(plot_curves(c, Path(root) / job.path, title=job.title,
                                   size=(5.0, 0.5 + 1.7 * len(c.series)), dpi=72))
    return written


def _section(kind: str, spec: Any) -> list[str]:
    cls = spec.cls
    module = cls.__module__.replace(".optim.optim", ".optim")
    public = _FACADES[spec.namespace] if kind == "optimizer" else module
    out = [f'<a id="{_anchor(kind, spec.namespace, spec.name)}"></a>', "",
           f"### `{spec.name}`: {cls.__name__}", ""]
    facts = [f"`{public}.{cls.__name__}`"]
    if spec.torch_name:
        torch_module = "torch.optim" if kind == "optimizer" else "torch.optim.lr_scheduler"
        facts.append(f"same as `{torch_module}.{spec.torch_name}`")
    out += [" · ".join(facts) + f". {spec.description[0].upper()}{spec.description[1:]}".rstrip(".") + ".", ""]
    out += ["```python", signature_text(cls), "```", ""]
    defaults = _defaults(cls)
    if defaults:
        out += ["| argument | default |", "|---|---|"] + [f"| `{k}` | `{v}` |" for k, v in defaults] + [""]
    if kind == "optimizer":
        flags = spec.capabilities()
        out += ["Supports: " + (", ".join(k for k, v in flags.items() if v) or "-") + ". "
                + "Not: " + (", ".join(k for k, v in flags.items() if not v) or "-") + ".", ""]
    parts = docstring_parts(cls.__doc__)
    if parts.summary:
        out += [_rst_inline(parts.summary), ""]
    for block in parts.math:
        out += ["```math", block, "```", ""]
    if kind == "scheduler":
        job, reason = _scheduler_job(spec)
        if job is not None:
            out += [f"![{cls.__name__} default shape]({job.path})", "", f"<sub>{job.caption}</sub>", ""]
        else:
            out += [f"_No default plot: {reason}._", ""]
    if parts.example:
        out += ["```python", parts.example, "```", ""]
    return out


def render() -> str:
    """The whole reference page, as Markdown."""
    lines = [
        "# optimkit reference",
        "",
        "Generated from the registries by `python scripts/update_docs.py`; do not edit by hand (a test fails",
        "when this page is stale). `optimkit show NAME` prints the same facts on the command line, and",
        "`optimkit plot NAME key=value ...` draws any schedule with your own arguments.",
        "",
    ]
    groups = []
    for kind in ("optimizer", "scheduler"):
        for namespace, specs in _specs(kind):
            title = f"{kind.capitalize()}s (`{_FACADES[namespace]}{'.lr_scheduler' if kind == 'scheduler' else ''}`)"
            groups.append((kind, namespace, title, specs))
    lines += ["## Contents", ""]
    for kind, namespace, title, specs in groups:
        links = ", ".join(f"[{s.name}](#{_anchor(kind, namespace, s.name)})" for s in specs)
        lines += [f"- {title}: {links}"]
    lines.append("")
    for kind, namespace, title, specs in groups:
        lines += [f"## {title}", ""]
        for spec in specs:
            lines += _section(kind, spec)
    return "\n".join(lines).rstrip() + "\n"
