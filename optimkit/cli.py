"""The ``optimkit`` command line (also ``python -m optimkit``).

Commands:
    optimkit demo [--config FILE] [--out DIR] [--quick]    compare configs on the digits MLP
    optimkit plot CONFIG|SCHEDULER [k=v ...] [--out FILE]  lr (momentum, weight decay) by step
    optimkit lr-find CONFIG [--out FILE]                   learning-rate range test
    optimkit list [KIND] [PATTERN]                         the registries (optimizers, schedulers, sparsity)
    optimkit show NAME                                     one optimizer or scheduler in detail

Images go to ./optimkit-plots/ (the demo's to ./optimkit-demo/) unless --out says otherwise; each
command prints the path it wrote. ``examples/NAME.yaml`` also finds the example configs that ship
with optimkit. Mistakes in the input (an unknown name, a malformed YAML file, an --out that cannot
be written) end with one line on stderr and exit status 2, before any long work, never with a
traceback. ``optimkit COMMAND --help`` describes each command.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._cli_info import describe, list_command, optimizer_table, scheduler_table, show_command
from ._cli_support import CLIError, check_output_dir, check_output_file, example_configs, resolve_config, similar_names
from ._text import plain

__all__ = ["CLIError", "describe", "main", "optimizer_table", "scheduler_table"]


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------


def _read_config(path: str, stack: contextlib.ExitStack) -> tuple[str, dict[str, Any]]:
    """The config file to use for ``path`` (see :func:`resolve_config`) and its contents."""
    from optimkit import config

    path = resolve_config(path, stack)
    try:
        return path, config.read(path)
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


def _saved(write: Any, path: Path) -> Path:
    """Run ``write()`` (which saves ``path``); a failure the early check could not foresee (a
    full disk) is still one line."""
    try:
        write()
    except OSError as err:
        raise CLIError(f"cannot write {path} ({err.strerror or err})") from None
    return path


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    out = check_output_dir(args.out)  # first: before torch loads, the configs, the data and the training
    import torch

    from optimkit import demo

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    with contextlib.ExitStack() as stack:
        paths = list(args.config) if args.config else [str(p) for p in stack.enter_context(example_configs())]
        if not paths:
            raise CLIError("this installation of optimkit has no example configs; pass --config FILE")
        runs = []
        for given in paths:
            path, raw = _read_config(given, stack)
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
    image = out / "demo.png"
    _saved(lambda: demo.plot_runs(results, image), image)
    print(f"wrote {image}")
    print(f"total time: {time.perf_counter() - started:.1f} s")
    return 0


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------


def _is_config(target: str) -> bool:
    return (target.endswith((".yaml", ".yml")) or os.sep in target or "/" in target or target in (".", "..")
            or Path(target).is_file())


def _parse_pairs(pairs: Sequence[str]) -> dict[str, Any]:
    from optimkit.schedule_plot import parse_value

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"expected key=value, got {pair!r}")
        out[key] = parse_value(value)
    return out


# What a scheduler's constructor or closed form may raise for an argument out of range: torch's
# schedulers check little, so a zero step size surfaces as a division by zero.
_BAD_ARGUMENT = (TypeError, ValueError, ArithmeticError, KeyError, IndexError)


def _argument_error(what: str, err: Exception) -> CLIError:
    """One line for an exception that a scheduler raised about its arguments."""
    message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    if isinstance(err, ArithmeticError):
        return CLIError(f"{what}: {message} (an argument out of range?)")
    name = what.split("(")[0]
    return CLIError(message if str(message).startswith(name) else f"{name}: {message}")


def _resolve_scheduler(name: str) -> Any:
    from optimkit import schedule_plot
    from optimkit._cli_info import all_names
    from optimkit.registry import UnknownNameError

    try:
        return schedule_plot.resolve_scheduler(name)
    except UnknownNameError as err:
        close = similar_names(err.name, all_names("scheduler"))
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CLIError(f"unknown scheduler {err.name!r}{hint} (see: optimkit list schedulers)") from None


def _cmd_plot(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output_file(args.out, "plot.png")  # first, before torch loads; again below with the name
    import torch

    from optimkit import schedule_plot

    target = args.target
    with contextlib.ExitStack() as stack:
        if _is_config(target):
            if args.args:
                raise CLIError(f"key=value arguments go with a scheduler name, not with a config file ({' '.join(args.args)})")
            path, raw = _read_config(target, stack)
            out = check_output_file(args.out, f"{Path(path).stem}.png")

            def factory() -> tuple[Any, Any]:
                return _load(path, [torch.nn.Parameter(torch.zeros(1))])

            factory()
            steps = args.steps
            if steps is None:
                if "train" in raw:
                    from optimkit.demo import DIGITS_TRAIN_SIZE

                    settings = _settings(path, raw, 0)
                    steps = settings.epochs * math.ceil(DIGITS_TRAIN_SIZE / settings.batch_size)
                else:
                    steps = 1000
            title, blame = f"{raw.get('name') or Path(path).stem}", path
        else:
            kwargs = _parse_pairs(args.args)
            spec = _resolve_scheduler(target)
            out = check_output_file(args.out, f"{spec.name}.png")
            shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            title = blame = f"{spec.cls.__name__}({shown})"

            def factory() -> tuple[Any, Any]:
                try:
                    return schedule_plot.build_named(f"{spec.namespace}:{spec.name}", kwargs, lr=args.lr)
                except _BAD_ARGUMENT as err:
                    raise _argument_error(title, err) from None

            defaults = {p.name: p.default for p in schedule_plot.scheduler_arguments(spec.cls) if p.default is not p.empty}
            try:
                # The length comes from the arguments (4 x step_size, total_steps, ...), which it
                # checks: a bad one is named, not reported as a bad --steps or a division by zero.
                length = schedule_plot.default_length({**defaults, **kwargs}, fallback=1000)
            except ValueError as err:
                raise _argument_error(title, err) from None
            factory()
            steps = args.steps or length
        try:
            curves = schedule_plot.curves(factory, steps)
        except _BAD_ARGUMENT as err:
            raise _argument_error(blame, err) from None
    source = "closed form" if curves.closed_form >= set(curves.series) else "stepped (no closed form)"
    print(f"{title}: {len(curves.steps)} steps, {source}")
    print(curves.table())
    print()
    for name, values in curves.series.items():
        print(f"{name}: min {min(values):.6g}, max {max(values):.6g}, final {values[-1]:.6g}")
    if curves.note:
        print(f"note: {curves.note}")
    _saved(lambda: schedule_plot.plot_curves(curves, out, title=title, log_lr=args.log), out)
    print(f"wrote {out}")
    return 0


# --------------------------------------------------------------------------------------------
# lr-find
# --------------------------------------------------------------------------------------------


def _flags(text: str) -> str:
    """A library message's argument names as this command's flags (``end_lr`` -> ``--end-lr``)."""
    for name in ("start_lr", "end_lr", "num_iter"):
        text = text.replace(name, "--" + name.replace("_", "-"))
    return text


def _cmd_lr_find(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output_file(args.out, "lr-find.png")  # first, before torch loads; again below with the name
    import torch
    import torch.nn.functional as F

    from optimkit import demo
    from optimkit.lr_finder import NoSuggestion, range_test, sweep_schedule

    with contextlib.ExitStack() as stack:
        path, raw = _read_config(args.config, stack)
        settings = _settings(path, raw, args.seed)
        out = check_output_file(args.out, f"{Path(path).stem}-lr-find.png")
        try:
            sweep_schedule(args.start_lr, args.end_lr, args.num_iter, args.mode)  # the sweep's own checks, now
        except ValueError as err:
            raise CLIError(_flags(str(err))) from None
        torch.set_num_threads(args.threads)
        model = demo.make_model(settings.hidden, seed=settings.seed or 0)
        optimizer, _ = _load(path, model.parameters())
    data = demo.load_data(seed=args.seed)
    batches = data.batches(settings.batch_size, torch.Generator().manual_seed(settings.seed or 0))
    try:
        result = range_test(model, optimizer, F.cross_entropy, batches, start_lr=args.start_lr, end_lr=args.end_lr,
                            num_iter=args.num_iter, mode=args.mode, progress=not args.no_progress)
    except ValueError as err:
        raise CLIError(_flags(str(err))) from None
    sys.stderr.flush()
    name = raw.get("name") or Path(path).stem
    print(f"lr range test: {name} ({type(optimizer).__name__}), {len(result.lrs)} steps from "
          f"{result.lrs[0]:.3g} to {result.lrs[-1]:.3g}" + (" (stopped: loss diverged)" if result.diverged else ""))
    rows = sorted({round(i * (len(result.lrs) - 1) / 10) for i in range(11)})
    print(f"{'lr':>10}  {'loss':>8}  {'smoothed':>8}")
    for i in rows:
        print(f"{result.lrs[i]:10.3g}  {result.raw_losses[i]:8.4f}  {result.losses[i]:8.4f}")
    try:
        found = result.suggestions()
    except NoSuggestion as err:
        print(f"no suggestion: {_flags(str(err))}")
    else:
        print("suggestions from the smoothed loss:")
        for method, pick in found.items():
            print(f"  {pick.label:<17} {pick.lr:.3g}" + ("   <- used (--suggest)" if method == args.suggest else ""))
        if args.suggest in found:
            print(f"suggested lr ({found[args.suggest].label}): {found[args.suggest].lr:.3g}")
        else:
            print(f"no suggestion ({args.suggest}): the loss never fell before its minimum; try --suggest valley")
    import matplotlib.pyplot as plt

    def write() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        plt.close(result.plot(out, title=f"range test: {name}", method=args.suggest))

    _saved(write, out)
    print(f"wrote {out}")
    return 0


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and adds ``(default: X)`` to every option that has a
    default worth showing (not ``None`` or ``False``) and does not state it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        if action.option_strings and shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _version() -> str:
    import platform

    import optimkit

    return f"optimkit {optimkit.__version__} from {Path(optimkit.__file__).resolve().parent} (python {platform.python_version()})"


def _parser() -> argparse.ArgumentParser:
    doc = plain(__doc__ or "").splitlines()
    parser = argparse.ArgumentParser(prog="optimkit", description=doc[0], formatter_class=_HelpFormatter,
                                     epilog="\n".join(doc[2:]).strip())
    parser.add_argument("--version", action="version", version=_version(), help="print the version and where optimkit is installed")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        # The formatter keeps line breaks (for the command list above), so wrap the prose here.
        return commands.add_parser(name, help=summary, description=textwrap.fill(description or summary, 79),
                                   formatter_class=_HelpFormatter)

    demo = command("demo", "train the digits MLP with several configurations and compare them",
                   "Train a small MLP on scikit-learn's bundled digits (no download) with each config, print a "
                   "comparison and write demo.png.")
    demo.add_argument("--config", action="append", metavar="FILE",
                      help="a YAML config to run instead of the shipped examples (repeat for several)")
    demo.add_argument("--out", default="optimkit-demo", metavar="DIR", help="the folder demo.png goes to")
    demo.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the batches")
    demo.add_argument("--epochs", type=_positive_int, metavar="N", help="override every config's train.epochs")
    demo.add_argument("--quick", dest="epochs", action="store_const", const=1,
                      help="one epoch per config: a smoke test that takes seconds")
    demo.add_argument("--threads", type=_positive_int, default=1, metavar="N", help="torch CPU threads (1 is fastest for this size)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(run=_cmd_demo)

    plot = command("plot", "plot a schedule (lr, momentum, weight decay) from a config or a scheduler name",
                   "Print a schedule's values at a few steps and draw it: from a YAML config, or from a scheduler "
                   "name with its arguments (optimkit plot onecycle max_lr=0.1 total_steps=1000).")
    plot.add_argument("target", metavar="CONFIG|SCHEDULER", help="a YAML config, or a scheduler name such as onecycle")
    plot.add_argument("args", nargs="*", metavar="key=value", help="the scheduler's arguments, typed like YAML")
    plot.add_argument("--steps", type=_positive_int, metavar="N",
                      help="steps to plot (default: the config's training, or the schedule's length from its arguments)")
    plot.add_argument("--out", metavar="FILE",
                      help="the image to write, or a folder for NAME.png (default: optimkit-plots/NAME.png)")
    plot.add_argument("--lr", type=float, default=0.1, help="the base lr for a scheduler name")
    plot.add_argument("--log", action="store_true", help="log scale for the learning rate")
    plot.set_defaults(run=_cmd_plot)

    finder = command("lr-find", "learning-rate range test of a config on the demo's data",
                     "Train the config's optimizer on the demo's digits with a learning rate that grows every "
                     "step, print the loss curve and suggest a learning rate (valley, steepest descent or "
                     "minimum / 10 of the smoothed loss), and draw it.")
    finder.add_argument("config", metavar="CONFIG", help="a YAML config (its optimizer and train sections)")
    finder.add_argument("--out", metavar="FILE",
                        help="the image to write, or a folder for it (default: optimkit-plots/CONFIG-lr-find.png)")
    finder.add_argument("--start-lr", type=float, default=1e-7, metavar="LR", help="the learning rate of the first step")
    finder.add_argument("--end-lr", type=float, default=10.0, metavar="LR", help="the learning rate of the last step")
    finder.add_argument("--num-iter", type=_positive_int, default=100, metavar="N",
                        help="optimizer steps in the sweep (it stops early once the loss diverges)")
    finder.add_argument("--mode", choices=("exp", "linear"), default="exp",
                        help="exp: learning rates evenly spaced on a log scale; linear: evenly spaced")
    finder.add_argument("--suggest", choices=("valley", "steepest", "minimum"), default="valley",
                        help="the suggestion to use: fastai's valley, the steepest descent, or the minimum / 10")
    finder.add_argument("--seed", type=int, default=0, help="seed of the data split, and of the weights and batches unless the config sets train.seed")
    finder.add_argument("--threads", type=_positive_int, default=1, metavar="N", help="torch CPU threads")
    finder.add_argument("--no-progress", action="store_true", help="no progress bar")
    finder.set_defaults(run=_cmd_lr_find)

    listing = command("list", "list registered optimizers, schedulers and sparsity algorithms")
    listing.add_argument("words", nargs="*", metavar="[optimizers|schedulers|sparsity] [PATTERN]",
                         help="what to list, then a shell-style pattern such as 'adam*'")
    listing.add_argument("--namespace", choices=("optim", "cerebras", "all"), default="optim",
                         help="optim: torch's API; cerebras: Cerebras' API; all: both")
    listing.set_defaults(run=list_command)

    show = command("show", "one optimizer or scheduler: signature, defaults, capabilities, the math")
    show.add_argument("name", metavar="NAME", help="a registry name (cerebras:NAME for Cerebras' classes)")
    show.set_defaults(run=show_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 a mistake in the input, 130
    interrupted).

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
