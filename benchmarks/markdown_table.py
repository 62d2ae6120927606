"""The README's speed table, rendered from one ``step_bench.py --json`` run.

    python benchmarks/step_bench.py --json results.json
    python benchmarks/markdown_table.py results.json

One line per (layout, optimizer) row: torch's default and fastest variant, optimkit's default and
fastest, as ms/step (median), the ratios to torch, and the fraction of the measured ``add_``
roofline the fastest optimkit variant reaches (against the ``add_`` timed within the row).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def _over(placements: int | None) -> str:
    return f" over {placements} allocations" if placements and placements > 1 else ""


def render(results: dict[str, Any]) -> str:
    """The markdown table of ``results`` (a ``step_bench.py --json`` file, parsed)."""
    meta, start_roof = results["meta"], results["roofline"]["gbps"]
    # Each row's own roofline (its add_ timed in the row's round-robin); the one measured at the
    # start for results written before rows had their own.
    row_roofs = [row.get("roofline_gbps", start_roof) for row in results["steps"]]
    span = (f"{min(row_roofs):.1f}-{max(row_roofs):.1f} GB/s, timed within each row" if row_roofs
            else f"{start_roof:.1f} GB/s")
    lines = [
        f"torch {meta.get('torch', '?')}, {meta['device']}, {meta['threads']} threads, scale {meta['scale']}, "
        f"{meta['repeats']} interleaved repeats{_over(meta.get('placements'))}; roofline (`add_`) {span}",
        "",
        "| layout | optimizer | torch default | torch fastest | optimkit default | /torch default "
        "| optimkit fastest | /torch fastest | roofline |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["steps"]:
        v = row["variants"]
        ours = {n: r for n, r in v.items() if r["library"] == "optimkit"}
        if not ours:
            continue
        best_name = min(ours, key=lambda n: ours[n]["median_ms"])
        best = ours[best_name]
        default = v.get("optimkit-default")
        torch_default = v.get("torch-default")
        torch_best = v.get(row["torch_best"]) if row["torch_best"] else None
        lines.append(
            f"| {row['layout']} | {row['optimizer']} "
            f"| {_ms(torch_default and torch_default['median_ms'])} "
            f"| {_ms(torch_best and torch_best['median_ms'])} ({row['torch_best'] or '-'}) "
            f"| {_ms(default and default['median_ms'])} "
            f"| {_ms(default and default['vs_torch_default'])} "
            f"| {_ms(best['median_ms'])} ({best_name.removeprefix('optimkit-')}) "
            f"| {_ms(best['vs_torch_best'])} | {best['gbps'] / row.get('roofline_gbps', start_roof):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python benchmarks/markdown_table.py RESULTS.json")
    print(render(json.loads(Path(args[0]).read_text())))


if __name__ == "__main__":
    main()
