"""How much a step loses when its memory streams advance in lockstep, and what optimkit's
placement of large state tensors gives back (``optimkit/optim/_placement.py``).

Each variant gets its own parameter and gradient, allocated one after the other as a model's
are, then its optimizer and a first step (which allocates the state). The variants:

* ``torch-fused``: ``torch.optim.<X>(fused=True)``, state from ``torch.zeros_like``;
* ``optimkit-unplaced``: optimkit's default step with the placement switched off;
* ``optimkit``: optimkit's default step (the same fused kernel) with its state placed.

They are timed interleaved, round-robin, and the script prints per size: ms/step (median and
p25-p75), GB/s over the minimal bytes, the ratio to torch-fused, and where each state tensor
starts relative to its parameter (modulo 1 MiB: lockstep shows as steps of one page).

``--scan`` adds the experiment behind the placement: Adam's fused kernel on four equal
tensors carved from one storage with a gap between consecutive ones, for a range of gaps.

    python benchmarks/placement.py                 # 2**25, 2**24, 3 x 2**22 and 3e7 floats
    python benchmarks/placement.py --scan --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optimkit.optim as ok  # noqa: E402
from optimkit.optim import _placement  # noqa: E402

OPTIMIZERS: dict[str, tuple[Callable[..., Any], Callable[..., Any], dict[str, Any], int]] = {
    # name: (torch class, optimkit class, options, state tensors per parameter)
    "adam": (torch.optim.Adam, ok.Adam, {"lr": 1e-3}, 2),
    "sgd": (torch.optim.SGD, ok.SGD, {"lr": 1e-3, "momentum": 0.9}, 1),
}
SIZES = (1 << 25, 1 << 24, 3 << 22, 30_000_000)
VARIANTS = ("torch-fused", "optimkit-unplaced", "optimkit")


def _build(variant: str, name: str, numel: int) -> tuple[torch.optim.Optimizer, torch.Tensor]:
    torch_cls, ok_cls, options, _ = OPTIMIZERS[name]
    p = torch.nn.Parameter(torch.randn(numel))
    p.grad = torch.randn(numel)
    if variant == "torch-fused":
        opt = torch_cls([p], fused=True, **options)
        opt.step()
        return opt, p
    saved = _placement.MIN_BYTES
    if variant == "optimkit-unplaced":
        _placement.MIN_BYTES = 1 << 62
    try:
        opt = ok_cls([p], **options)
        opt.step()  # the state is allocated here
    finally:
        _placement.MIN_BYTES = saved
    return opt, p


def _offsets(opt: torch.optim.Optimizer, p: torch.Tensor) -> str:
    """Where each state tensor starts relative to the parameter, modulo 1 MiB, in KiB."""
    starts = [p.grad.data_ptr()] + [t.data_ptr() for t in opt.state[p].values()
                                    if isinstance(t, torch.Tensor) and t.dim() > 0]
    return " ".join(f"{((s - p.data_ptr()) % (1 << 20)) / 1024:+.0f}".replace("+", "") for s in starts)


def bench_size(name: str, numel: int, repeats: int) -> list[dict[str, Any]]:
    built = {v: _build(v, name, numel) for v in VARIANTS}
    state_count = OPTIMIZERS[name][3]
    nbytes = (3 + 2 * state_count) * numel * 4
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(repeats):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        for variant in order:
            opt, _ = built[variant]
            start = time.perf_counter()
            opt.step()
            samples[variant].append(time.perf_counter() - start)
    torch_ms = statistics.median(samples["torch-fused"]) * 1e3
    rows = []
    for variant in VARIANTS:
        ms = sorted(s * 1e3 for s in samples[variant])
        median = statistics.median(ms)
        rows.append({"optimizer": name, "numel": numel, "variant": variant, "median_ms": median,
                     "p25_ms": ms[len(ms) // 4], "p75_ms": ms[(3 * len(ms)) // 4],
                     "gbps": nbytes / (median / 1e3) / 1e9, "vs_torch_fused": median / torch_ms,
                     "offsets_kib": _offsets(*built[variant])})
    return rows


def scan(repeats: int, numel: int = 1 << 25) -> list[tuple[int, float]]:
    """Adam's fused kernel on four tensors ``numel + gap`` apart in one storage."""
    gaps = (0, 64, 1024, 2048, 3072, 4096, 8192, 16384, 65536, 1 << 20)
    big = torch.zeros(4 * (numel + max(gaps) // 4))
    count = torch.zeros(())
    results: dict[int, list[float]] = {g: [] for g in gaps}
    for _ in range(repeats):
        for gap in gaps:
            stride = numel + gap // 4
            p, g, m, v = (big[k * stride:k * stride + numel] for k in range(4))
            count += 1
            start = time.perf_counter()
            torch._fused_adam_([p], [g], [m], [v], [], [count], lr=1e-3, beta1=0.9, beta2=0.999,
                               weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
            results[gap].append(7 * numel * 4 / (time.perf_counter() - start) / 1e9)
    return [(gap, statistics.median(values)) for gap, values in results.items()]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", default="adam,sgd")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="elements, comma-separated")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--scan", action="store_true", help="also scan the gap between four equal streams")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; placement from "
          f"{_placement.MIN_BYTES >> 20} MiB, steps of {_placement.STEP_BYTES >> 10} KiB")
    out: dict[str, Any] = {"rows": []}
    for name in args.optimizers.split(","):
        for numel in (int(s) for s in args.sizes.split(",")):
            rows = bench_size(name, numel, args.repeats)
            out["rows"].extend(rows)
            print(f"\n{name}, {numel} floats ({numel * 4 / 2**20:.0f} MiB)")
            print(f"  {'variant':18s} {'ms/step':>8s} {'p25-p75':>13s} {'GB/s':>6s} {'/torch':>6s}  "
                  "grad, state starts - param start, mod 1 MiB (KiB)")
            for r in rows:
                print(f"  {r['variant']:18s} {r['median_ms']:8.2f} {r['p25_ms']:6.2f}-{r['p75_ms']:<6.2f} "
                      f"{r['gbps']:6.1f} {r['vs_torch_fused']:6.2f}  {r['offsets_kib']}")
            del rows
    if args.scan:
        out["scan"] = scan(args.repeats)
        print("\nfused Adam on four 2**25-float streams in one storage, `gap` bytes between them:")
        for gap, gbps in out["scan"]:
            print(f"  gap {gap:8d} B  {gbps:6.1f} GB/s")
    return out


if __name__ == "__main__":
    main()
