"""The ``optimkit`` command line (also ``python -m optimkit``).

Commands:
    optimkit list [optimizers] [PATTERN]   registered optimizers and their capabilities
    optimkit demo                          for now: the optimizers' table
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main", "optimizer_table"]

_FLAG_COLUMNS = ("betas", "momentum", "foreach", "fused", "differentiable", "complex", "sparse")


def optimizer_table(pattern: str = "*", *, markdown: bool = False) -> str:
    """A table of the registered optimizers matching ``pattern`` with their capabilities."""
    from optimkit.registry import get_optimizer, list_optimizers

    header = ["name", "class", *_FLAG_COLUMNS, "description"]
    rows = []
    for name in list_optimizers(pattern):
        spec = get_optimizer(name)
        flags = spec.capabilities()
        rows.append([name, spec.cls.__name__, *("yes" if flags[c] else "-" for c in _FLAG_COLUMNS), spec.description])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    def fmt(row: list[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
    return "\n".join([fmt(header), fmt(["-" * w for w in widths] + ["-" * 11]), *map(fmt, rows)])


_KINDS = ("optimizers",)


def _cmd_list(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words and words[0] in _KINDS:
        words.pop(0)
    if len(words) > 1:
        print(f"optimkit list: expected at most one pattern, got {' '.join(words)}", file=sys.stderr)
        return 2
    pattern = words[0] if words else "*"
    table = optimizer_table(pattern)
    if len(table.splitlines()) <= 2:
        print(f"optimkit list: no optimizer matches {pattern!r}", file=sys.stderr)
        return 1
    print(table)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    print("optimkit: torch.optim, independently written. Registered optimizers:\n")
    print(optimizer_table())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optimkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list registered optimizers")
    listing.add_argument("words", nargs="*", metavar="[optimizers] [PATTERN]",
                         help="what to list, then a shell-style pattern such as 'adam*'")
    listing.set_defaults(run=_cmd_list)
    demo = commands.add_parser("demo", help="show what optimkit does")
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
