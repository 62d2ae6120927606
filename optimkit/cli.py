"""The ``optimkit`` command line (also ``python -m optimkit``).

Commands:
    optimkit demo [--config FILE] [--out DIR]        train the digits MLP with several configs, compare
    optimkit plot CONFIG|SCHEDULER [k=v ...] [--steps N] [--out FILE]
                                                     lr (momentum, weight decay) against the step
    optimkit lr-find CONFIG [--out FILE]             learning-rate range test on the demo's data
    optimkit list [optimizers|schedulers] [PATTERN]  the registries
    optimkit show NAME                               one optimizer or scheduler in detail

Mistakes in the input (an unknown name, a malformed YAML file, a missing argument) end with a
one-line message on stderr and exit status 2, never with a traceback.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CLIError", "describe", "main", "optimizer_table", "scheduler_table"]

_FLAG_COLUMNS = ("betas", "momentum", "foreach", "fused", "differentiable", "complex", "sparse")
_NAMESPACES = ("optim", "cerebras")


class CLIError(Exception):
    """A mistake in the user's input: printed as one line, exit status 2."""


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns; the last column is not padded."""
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
    from optimkit.registry import get_optimizer, list_optimizers

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
    from optimkit.registry import get_scheduler, list_schedulers

    header = ["name", "class", "torch", "closed form", "description"]
    rows = []
    for name in list_schedulers(pattern, namespace=namespace):
        spec = get_scheduler(name, namespace=namespace)
        rows.append([name, spec.cls.__name__, spec.torch_name or "-", "yes" if _has_closed_form(spec.cls) else "-", spec.description])
    return _markdown_table(header, rows) if markdown else _format_table(header, rows)


def _has_closed_form(cls: type) -> bool:
    """Whether ``cls`` overrides the base class's ``lr_at`` (which raises)."""
    from optimkit.optim.lr_scheduler import LRScheduler

    lr_at = getattr(cls, "lr_at", None)
    return lr_at is not None and lr_at is not LRScheduler.lr_at


# --------------------------------------------------------------------------------------------
# list / show
# --------------------------------------------------------------------------------------------


def _cmd_list(args: argparse.Namespace) -> int:
    words = list(args.words)
    kinds = ["optimizers", "schedulers"]
    if words and words[0] in kinds:
        kinds = [words.pop(0)]
    if len(words) > 1:
        raise CLIError(f"expected at most one pattern, got {' '.join(words)}")
    pattern = words[0] if words else "*"
    namespaces = list(_NAMESPACES) if args.namespace == "all" else [args.namespace]
    tables = []
    for kind in kinds:
        make = optimizer_table if kind == "optimizers" else scheduler_table
        for namespace in namespaces:
            table = make(pattern, namespace=namespace)
            if len(table.splitlines()) > 2:
                facade = "optimkit.optim" if namespace == "optim" else "optimkit.cerebras.optim"
                tables.append((f"{kind} ({facade})", table))
    for i, (heading, table) in enumerate(tables):
        if len(tables) > 1:
            print(("\n" if i else "") + heading)
        print(table)
    printed = len(tables)
    if not printed:
        what = {"optimizers": "optimizer", "schedulers": "scheduler"}
        print(f"optimkit list: no {' or '.join(what[k] for k in kinds)} matches {pattern!r}", file=sys.stderr)
        return 1
    return 0


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    paragraph = inspect.cleandoc(doc).split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _find(name: str) -> tuple[str, Any]:
    """``("optimizer" | "scheduler", spec)`` for a name from either registry and namespace."""
    from optimkit.registry import OPTIMIZERS, SCHEDULERS, UnknownNameError, close_matches

    try:
        return "optimizer", OPTIMIZERS.resolve(name)
    except UnknownNameError as no_optimizer:
        try:
            return "scheduler", SCHEDULERS.resolve(name, suffixes=("lr",), unique_prefix=True)
        except UnknownNameError as no_scheduler:
            bare = no_scheduler.name
            close = close_matches(bare, no_optimizer.choices + no_scheduler.choices, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise CLIError(f"no optimizer or scheduler is called {bare!r}{hint} (see: optimkit list)")


def _defaults(cls: type, skip: Sequence[str]) -> list[tuple[str, str]]:
    params = inspect.signature(cls).parameters.values()
    return [(p.name, repr(p.default)) for p in params if p.default is not p.empty and p.name not in skip]


def _signature(cls: type) -> str:
    """``Name(arg, arg=default, *, flag=default)`` without the annotations."""
    sig = inspect.signature(cls)
    bare = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                       return_annotation=sig.empty)
    return f"{cls.__name__}{bare}"


def describe(name: str) -> str:
    """What ``optimkit show NAME`` prints: kind, class, signature, defaults, capabilities and the
    docstring's first paragraph.

    Raises:
        CLIError: for an unknown name (with close matches).

    Example:
        >>> from optimkit.cli import describe
        >>> text = describe("adamw")
        >>> text.splitlines()[0]
        'adamw: optimizer optimkit.optim.AdamW (same as torch.optim.AdamW)'
        >>> [line.split() for line in text.splitlines() if line.startswith("  lr ")]
        [['lr', '=', '0.001']]
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
    lines = [f"{prefix}{spec.name}: {kind} {facade}.{cls.__name__}{same}", spec.description, "", "signature:"]
    lines.append(f"  {_signature(cls)}")
    skip = ("params", "optimizer", "last_epoch")
    defaults = _defaults(cls, skip)
    if defaults:
        width = max(len(k) for k, _ in defaults)
        lines += ["", "defaults:"] + [f"  {k.ljust(width)} = {v}" for k, v in defaults]
    required = [p.name for p in inspect.signature(cls).parameters.values() if p.default is p.empty and p.name not in skip
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        lines += ["", "required: " + ", ".join(required)]
    lines.append("")
    if kind == "optimizer":
        flags = spec.capabilities()
        lines.append("capabilities: " + (", ".join(k for k, v in flags.items() if v) or "-"))
        lines.append("not supported: " + (", ".join(k for k, v in flags.items() if not v) or "-"))
    else:
        extras = ["closed form (lr_at)"] if _has_closed_form(cls) else ["no closed form (stepped only)"]
        if getattr(cls, "momentum_at", None) is not None:
            extras.append("cycles momentum / betas[0] (momentum_at)")
        key = getattr(cls, "param_group_key", None)
        if key and key != "lr":
            extras.append(f"drives {key}")
        lines.append("capabilities: " + ", ".join(extras))
    paragraph = _first_paragraph(cls.__doc__)
    if paragraph:
        lines += ["", paragraph]
    return "\n".join(lines)


def _cmd_show(args: argparse.Namespace) -> int:
    print(describe(args.name))
    return 0


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------


def _read_config(path: str) -> dict[str, Any]:
    from optimkit import config

    if not Path(path).is_file():
        raise CLIError(f"{path}: no such config file")
    try:
        return config.read(path)
    except ValueError as err:
        raise CLIError(str(err)) from None


def _load(path: str, params: Any) -> tuple[Any, Any]:
    from optimkit import config

    try:
        return config.load(path, params)
    except (ValueError, TypeError, KeyError) as err:
        message = err.args[0] if err.args else str(err)
        raise CLIError(message if str(message).startswith(path) else f"{path}: {message}") from None


def _settings(path: str, raw: dict[str, Any], seed: int) -> Any:
    from optimkit.demo import TrainSettings

    try:
        return TrainSettings.from_dict(raw.get("train"), default_seed=seed)
    except ValueError as err:
        raise CLIError(f"{path}: {err}") from None


def _examples_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"


def _demo_configs(args: argparse.Namespace) -> list[str]:
    if args.config:
        return list(args.config)
    found = sorted(str(p) for p in _examples_dir().glob("*.yaml"))
    if not found:
        raise CLIError(f"no example configs in {_examples_dir()}; pass --config FILE")
    return found


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    import torch

    from optimkit import demo

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    paths = _demo_configs(args)
    runs = []
    for path in paths:
        raw = _read_config(path)
        settings = _settings(path, raw, args.seed)
        if args.epochs is not None:
            settings = demo.TrainSettings(args.epochs, settings.batch_size, settings.seed, settings.hidden)
        # Build once before any training so that a broken config fails at once.
        _load(path, demo.make_model(settings.hidden).parameters())
        runs.append((path, str(raw.get("name") or Path(path).stem), str(raw.get("description") or ""), settings))
    data = demo.load_data(seed=args.seed)
    print(f"optimkit demo: {len(runs)} configuration{'s' if len(runs) != 1 else ''} on scikit-learn's digits "
          f"({len(data.x_train)} train / {len(data.x_test)} test images, 8x8), seed {args.seed}")
    for path, name, description, settings in runs:
        widths = "-".join(str(w) for w in (64, *settings.hidden, 10))
        print(f"  {name}: {description or path} [MLP {widths}, {settings.epochs} epochs x "
              f"{data.steps_per_epoch(settings.batch_size)} steps, batch {settings.batch_size}]")
    sys.stdout.flush()
    results = []
    for path, name, _, settings in runs:
        try:
            results.append(demo.train(name, lambda params, p=path: _load(p, params), data, settings,
                                      progress=not args.no_progress))
        except demo.SchedulerRanOut as err:
            raise CLIError(f"{path}: {err}") from None
        sys.stderr.flush()
    print()
    print(demo.results_table(results))
    best = max(results, key=lambda r: r.test_accuracy)
    print(f"\nbest: {best.name} with {100 * best.test_accuracy:.2f}% test accuracy")
    out = Path(args.out)
    image = demo.plot_runs(results, out / "demo.png")
    print(f"wrote {image}")
    print(f"total time: {time.perf_counter() - started:.1f} s")
    return 0


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------


def _is_config(target: str) -> bool:
    return target.endswith((".yaml", ".yml")) or os.sep in target or Path(target).is_file()


def _parse_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    from optimkit.schedule_plot import parse_value

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"expected key=value, got {pair!r}")
        out[key] = parse_value(value)
    return out


def _cmd_plot(args: argparse.Namespace) -> int:
    import torch

    from optimkit import schedule_plot

    target = args.target
    if _is_config(target):
        if args.args:
            raise CLIError(f"key=value arguments go with a scheduler name, not with a config file ({' '.join(args.args)})")
        raw = _read_config(target)

        def factory() -> tuple[Any, Any]:
            return _load(target, [torch.nn.Parameter(torch.zeros(1))])

        factory()
        steps = args.steps
        if steps is None:
            if "train" in raw:
                from optimkit.demo import DIGITS_TRAIN_SIZE

                settings = _settings(target, raw, 0)
                steps = settings.epochs * math.ceil(DIGITS_TRAIN_SIZE / settings.batch_size)
            else:
                steps = 1000
        title = f"{raw.get('name') or Path(target).stem}"
        out = Path(args.out or f"{Path(target).stem}.png")
    else:
        kwargs = _parse_pairs(args.args)
        try:
            spec = schedule_plot.resolve_scheduler(target)
        except KeyError as err:
            raise CLIError(err.args[0]) from None

        def factory() -> tuple[Any, Any]:
            try:
                return schedule_plot.build_named(f"{spec.namespace}:{spec.name}", kwargs, lr=args.lr)
            except (TypeError, ValueError) as err:
                message = str(err)
                raise CLIError(message if spec.cls.__name__ in message else f"{spec.cls.__name__}: {message}") from None

        factory()
        defaults = {p.name: p.default for p in schedule_plot.scheduler_arguments(spec.cls) if p.default is not p.empty}
        steps = args.steps or schedule_plot.default_length({**defaults, **kwargs}, fallback=1000)
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        title = f"{spec.cls.__name__}({shown})"
        out = Path(args.out or f"{spec.name}.png")
    if steps < 1:
        raise CLIError(f"--steps must be positive, got {steps}")
    try:
        curves = schedule_plot.curves(factory, steps)
    except ValueError as err:
        raise CLIError(str(err)) from None
    source = "closed form" if curves.closed_form >= set(curves.series) else "stepped (no closed form)"
    print(f"{title}: {len(curves.steps)} steps, {source}")
    print(curves.table())
    print()
    for name, values in curves.series.items():
        print(f"{name}: min {min(values):.6g}, max {max(values):.6g}, final {values[-1]:.6g}")
    if curves.note:
        print(f"note: {curves.note}")
    schedule_plot.plot_curves(curves, out, title=title, log_lr=args.log)
    print(f"wrote {out}")
    return 0


# --------------------------------------------------------------------------------------------
# lr-find
# --------------------------------------------------------------------------------------------


def _cmd_lr_find(args: argparse.Namespace) -> int:
    import torch
    import torch.nn.functional as F

    from optimkit import demo
    from optimkit.lr_finder import range_test

    torch.set_num_threads(args.threads)
    raw = _read_config(args.config)
    settings = _settings(args.config, raw, args.seed)
    model = demo.make_model(settings.hidden, seed=settings.seed or 0)
    optimizer, _ = _load(args.config, model.parameters())
    data = demo.load_data(seed=args.seed)
    batches = data.batches(settings.batch_size, torch.Generator().manual_seed(settings.seed or 0))
    try:
        result = range_test(model, optimizer, F.cross_entropy, batches, start_lr=args.start_lr, end_lr=args.end_lr,
                            num_iter=args.num_iter, mode=args.mode)
    except ValueError as err:
        raise CLIError(str(err)) from None
    name = raw.get("name") or Path(args.config).stem
    print(f"lr range test: {name} ({type(optimizer).__name__}), {len(result.lrs)} steps from "
          f"{result.lrs[0]:.3g} to {result.lrs[-1]:.3g}" + (" (stopped: loss diverged)" if result.diverged else ""))
    rows = sorted({round(i * (len(result.lrs) - 1) / 10) for i in range(11)})
    print(f"{'lr':>10}  {'loss':>8}  {'smoothed':>8}")
    for i in rows:
        print(f"{result.lrs[i]:10.3g}  {result.raw_losses[i]:8.4f}  {result.losses[i]:8.4f}")
    try:
        suggestion = result.suggestion()
    except ValueError as err:
        print(f"no suggestion: {err}")
        suggestion = None
    else:
        print(f"suggested lr (steepest descent): {suggestion:.3g}")
    out = Path(args.out or f"{Path(args.config).stem}-lr-find.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    import matplotlib.pyplot as plt

    fig = result.plot(out, title=f"range test: {name}")
    plt.close(fig)
    print(f"wrote {out}")
    return 0


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optimkit", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:9]))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="train the digits MLP with several configurations and compare them")
    demo.add_argument("--config", action="append", metavar="FILE",
                      help="a YAML config to run instead of the examples (repeat for several)")
    demo.add_argument("--out", default="optimkit-demo", metavar="DIR", help="where demo.png goes (default: optimkit-demo)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the batches (default: 0)")
    demo.add_argument("--epochs", type=_positive_int, help="override every config's train.epochs")
    demo.add_argument("--quick", dest="epochs", action="store_const", const=1, help="one epoch per config (a smoke test)")
    demo.add_argument("--threads", type=_positive_int, default=1, help="torch CPU threads (default: 1, fastest for this size)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(run=_cmd_demo)

    plot = commands.add_parser("plot", help="plot a schedule (lr, momentum, weight decay) from a config or a scheduler name")
    plot.add_argument("target", metavar="CONFIG|SCHEDULER", help="a YAML config, or a scheduler name such as onecycle")
    plot.add_argument("args", nargs="*", metavar="key=value", help="the scheduler's arguments, typed like YAML")
    plot.add_argument("--steps", type=_positive_int, help="steps to plot (default: from the config or the schedule)")
    plot.add_argument("--out", metavar="FILE", help="the image to write (default: NAME.png)")
    plot.add_argument("--lr", type=float, default=0.1, help="the base lr for a scheduler name (default: 0.1)")
    plot.add_argument("--log", action="store_true", help="log scale for the learning rate")
    plot.set_defaults(run=_cmd_plot)

    finder = commands.add_parser("lr-find", help="learning-rate range test of a config on the demo's data")
    finder.add_argument("config", metavar="CONFIG", help="a YAML config (its optimizer and train section)")
    finder.add_argument("--out", metavar="FILE", help="the image to write (default: CONFIG-lr-find.png)")
    finder.add_argument("--start-lr", type=float, default=1e-7)
    finder.add_argument("--end-lr", type=float, default=10.0)
    finder.add_argument("--num-iter", type=_positive_int, default=100)
    finder.add_argument("--mode", choices=("exp", "linear"), default="exp")
    finder.add_argument("--seed", type=int, default=0)
    finder.add_argument("--threads", type=_positive_int, default=1)
    finder.set_defaults(run=_cmd_lr_find)

    listing = commands.add_parser("list", help="list registered optimizers and schedulers")
    listing.add_argument("words", nargs="*", metavar="[optimizers|schedulers] [PATTERN]",
                         help="what to list, then a shell-style pattern such as 'adam*'")
    listing.add_argument("--namespace", choices=(*_NAMESPACES, "all"), default="optim",
                         help="optim: torch's API (default); cerebras: Cerebras' API; all: both")
    listing.set_defaults(run=_cmd_list)

    show = commands.add_parser("show", help="one optimizer or scheduler: signature, defaults, capabilities")
    show.add_argument("name", metavar="NAME", help="a registry name (cerebras:NAME for Cerebras' classes)")
    show.set_defaults(run=_cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 nothing found, 2 bad input).

    Example:
        >>> from optimkit.cli import main
        >>> main(["show", "adamv"])
        2
    """
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CLIError as err:
        print(f"optimkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"optimkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``optimkit list | head``): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
