"""Optimizer step time of optimkit against torch.optim: ratios, bandwidth and a roofline.

Supersedes ``benchmarks/step_time.py``. Four sections, each printed as a text table:

1. **Roofline.** The machine's in-place ``a.add_(b)`` bandwidth on large float32 tensors
   (bytes = 3 x numel x 4: read ``a``, read ``b``, write ``a``), measured in the same run.
2. **Optimizer steps.** Three parameter layouts (see :func:`layout_a`, :func:`layout_b`,
   :func:`layout_c`; ``--layouts``):

   * ``a``: 400 small tensors, ~3.9M elements: a seeded mix of bias / LayerNorm vectors, small
     and medium matrices;
   * ``b``: transformer-like, 148 tensors, ~24.8M elements (12 blocks of d=384: qkv, proj, fc1,
     fc2 weights and biases and two LayerNorms, plus token/position embeddings and a final
     LayerNorm);
   * ``c``: one tensor of 8192 x 4096 = 33.5M elements.

   SGD(momentum=0.9), Adam and AdamW run on every layout; the other element-wise optimizers that
   torch also has run on ``b``; the optimkit-only ones (Lion, Lamb, AdaBelief) run on ``b`` with
   optimkit variants only. Every row times the variants in :data:`VARIANTS` (optimkit default /
   foreach / fused, torch default / foreach / fused, peers when installed) on the *same*
   parameter and gradient tensors, interleaved round-robin (each repeat runs every variant once,
   in rotated order) after warm-up steps. The full and quick scales do this on 6 and 2 fresh
   allocations of the tensors (``--placements``), the variants built in a rotated order each
   time, and pool the samples: the same kernels on two allocations differ by up to 8% on a CPU,
   and one allocation per variant would charge that to the variant. Printed per variant: ms/step median and p25-p75, the
   effective GB/s of the minimal traffic (read p, g and every state tensor, write p and every
   state tensor; the state count is read off the optimizer state after warm-up), that as a
   fraction of the roofline, and the ratio to torch's default and to torch's fastest variant
   (below 1.00 means faster than torch). The roofline of a row is the ``add_`` of section 1 timed
   once per repeat inside the row's own round-robin: the machine's bandwidth moves over minutes,
   and a row is compared with what the memory gave while it ran.
3. **Schedulers.** ``scheduler.step()`` in microseconds, optimkit against torch, for StepLR,
   CosineAnnealingLR, CyclicLR and OneCycleLR, with 1 and 10 param groups, float and Tensor lr,
   always over a ``torch.optim.SGD`` so that only the scheduler differs.
4. **Recompiles.** For every torch-named scheduler of ``optimkit.optim.lr_scheduler`` (from the
   registry): a ``torch.compile``d ``opt.step()`` of an optimkit Adam with ``lr=torch.tensor(0.01)``
   stepped under the scheduler; counts the graphs dynamo compiles after the warm-up steps (each
   one is a recompile), with torch's scheduler of the same name alongside. ``--no-compile`` skips.

Examples::

    python benchmarks/step_bench.py --quick --no-compile        # under 2 minutes on 2 cores
    python benchmarks/step_bench.py --layouts b --optimizers adam,adamw --repeats 9
    python benchmarks/step_bench.py --device cuda --json results.json

Adding a variant is one :func:`register_variant` call (see the variants next to :data:`VARIANTS`).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import inspect
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

# The script runs from a checkout without installing the package, and imports its sibling module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from optimkit.registry import OptimizerSpec, optimizer_specs, scheduler_specs  # noqa: E402
from _scheduler_bench import CONTROL, SCHEDULER_KWARGS, bench_compile, bench_schedulers, compile_one  # noqa: E402,F401

# ------------------------------------------------------------------------------------------------
# Settings per scale
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """How big and how long a run is. ``shrink`` divides the layouts' dimensions."""

    name: str
    shrink: int
    warmup: int
    repeats: int
    sample_s: float  # target seconds per timed sample (several steps when one step is short)
    max_steps_per_sample: int
    roofline_numel: int
    roofline_repeats: int
    sched_steps: int  # scheduler.step() calls per sample
    sched_repeats: int
    compile_steps: int
    others_on_b: tuple[str, ...] | None  # None: every element-wise optimizer torch also has
    changes: tuple[str, ...] = ()
    placements: int = 1  # fresh allocations per row, the repeats shared among them (see bench_row)


SCALES = {
    "full": Scale("full", shrink=1, warmup=3, repeats=24, sample_s=0.05, max_steps_per_sample=50,
                  roofline_numel=1 << 25, roofline_repeats=15, sched_steps=400, sched_repeats=9,
                  compile_steps=10, others_on_b=None, placements=6),
    "quick": Scale("quick", shrink=2, warmup=2, repeats=6, sample_s=0.02, max_steps_per_sample=20,
                   roofline_numel=1 << 25, roofline_repeats=9, sched_steps=200, sched_repeats=5,
                   compile_steps=10, others_on_b=None, placements=2,
                   changes=("layouts shrunk: every dimension halved (a: 400 tensors ~1M elements, "
                            "b: d=192 ~6.2M, c: 4096x2048 = 8.4M)",
                            "warm-up 2 steps, 6 repeats over 2 allocations, ~20 ms samples (full: 3, 24 over 6, "
                            "~50 ms)",
                            "scheduler samples of 200 steps x 5 repeats (full: 400 x 9)")),
    "smoke": Scale("smoke", shrink=16, warmup=1, repeats=1, sample_s=0.0, max_steps_per_sample=1,
                   roofline_numel=1 << 20, roofline_repeats=2, sched_steps=5, sched_repeats=1,
                   compile_steps=4, others_on_b=(),
                   changes=("smoke test: layouts shrunk 16x, 1 warm-up step, 1 repeat of 1 step, "
                            "numbers meaningless",)),
}

# ------------------------------------------------------------------------------------------------
# Layouts
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    key: str
    title: str
    shapes: tuple[tuple[int, ...], ...]
    detail: str

    @property
    def numel(self) -> int:
        return sum(math.prod(s) for s in self.shapes)


def _shrink(d: int, shrink: int) -> int:
    return max(1, d // shrink)


def layout_a(shrink: int = 1, seed: int = 0) -> Layout:
    """400 small tensors (~3.9M elements at full size), in a shuffled, seeded order: 185 vectors
    (biases, LayerNorm weights) of 64..1024, 195 small matrices with sides 16..192 and 20 medium
    matrices with sides 256..512, the spread of a small real model."""
    rng = random.Random(seed)
    kinds = ["vector"] * 185 + ["small"] * 195 + ["medium"] * 20
    rng.shuffle(kinds)
    shapes = []
    for kind in kinds:
        if kind == "vector":
            shape: tuple[int, ...] = (rng.choice([64, 128, 256, 384, 512, 768, 1024]),)
        elif kind == "small":
            sides = [16, 32, 64, 96, 128, 192]
            shape = (rng.choice(sides), rng.choice(sides))
        else:
            shape = (rng.choice([256, 384]), rng.choice([256, 384, 512]))
        shapes.append(tuple(_shrink(d, shrink) for d in shape))
    return Layout("a", "400 small tensors", tuple(shapes),
                  f"seeded mix: 185 vectors, 195 small matrices, 20 medium matrices (seed {seed})")


def layout_b(shrink: int = 1) -> Layout:
    """Transformer-like, 148 tensors: token embedding (vocab, d), position embedding (ctx, d),
    12 blocks of [ln1 w, ln1 b (d,), qkv W (3d, d), qkv b (3d,), proj W (d, d), proj b (d,),
    ln2 w, ln2 b (d,), fc1 W (4d, d), fc1 b (4d,), fc2 W (d, 4d), fc2 b (d,)], final LayerNorm
    w, b (d,). Full size: d=384, vocab=8192, ctx=1024: 24.8M elements."""
    d, vocab, ctx = _shrink(384, shrink), _shrink(8192, shrink), _shrink(1024, shrink)
    shapes: list[tuple[int, ...]] = [(vocab, d), (ctx, d)]
    for _ in range(12):
        shapes += [(d,), (d,), (3 * d, d), (3 * d,), (d, d), (d,),
                   (d,), (d,), (4 * d, d), (4 * d,), (d, 4 * d), (d,)]
    shapes += [(d,), (d,)]
    return Layout("b", "transformer-like", tuple(shapes),
                  f"d={d}, 12 blocks, vocab={vocab}, ctx={ctx}: embeddings ({vocab},{d}) ({ctx},{d}); "
                  f"per block qkv ({3 * d},{d})+({3 * d},), proj ({d},{d})+({d},), fc1 ({4 * d},{d})+"
                  f"({4 * d},), fc2 ({d},{4 * d})+({d},), 2 LayerNorms 2x({d},); final LayerNorm")


def layout_c(shrink: int = 1) -> Layout:
    """One 8192 x 4096 tensor (33.5M elements at full size)."""
    shape = (_shrink(8192, shrink), _shrink(4096, shrink))
    return Layout("c", "one big tensor", (shape,), f"one ({shape[0]},{shape[1]}) tensor")


LAYOUTS: dict[str, Callable[[int], Layout]] = {"a": layout_a, "b": layout_b, "c": layout_c}

# ------------------------------------------------------------------------------------------------
# Optimizer rows
# ------------------------------------------------------------------------------------------------

#: Run on every layout.
CORE = ("sgd", "adam", "adamw")
#: Run on layout b with optimkit variants only.
OPTIMKIT_ONLY = ("lion", "lamb", "adabelief")
#: Registered optimizers that are not element-wise updates (or cannot step on a dense gradient
#: without help), so a bandwidth benchmark does not fit them.
NOT_ELEMENTWISE = {
    "adafactor": "factored second moment (row/column reductions)",
    "lbfgs": "needs a closure",
    "muon": "Newton-Schulz matrix products",
    "sparseadam": "needs sparse gradients",
}
#: Hyperparameters per optimizer, the same for every library (library defaults otherwise).
KWARGS: dict[str, dict[str, Any]] = {"sgd": {"lr": 0.01, "momentum": 0.9}, "adam": {"lr": 1e-3}, "adamw": {"lr": 1e-3}}


@dataclass(frozen=True)
class Case:
    """One optimizer row: what to build and with which hyperparameters."""

    name: str
    spec: OptimizerSpec | None
    torch_cls: type | None
    kwargs: dict[str, Any] = field(default_factory=dict)


def make_case(name: str) -> Case:
    specs = {s.name: s for s in optimizer_specs()}
    spec = specs.get(name)
    torch_cls = None
    if spec is not None and spec.torch_name is not None:
        torch_cls = getattr(torch.optim, spec.torch_name, None)
    return Case(name, spec, torch_cls, dict(KWARGS.get(name, {})))


def elementwise_with_torch() -> list[str]:
    """Registered element-wise optimizers that torch also has, besides the core ones."""
    return [s.name for s in optimizer_specs()
            if s.torch_name and s.name not in CORE and s.name not in NOT_ELEMENTWISE
            and hasattr(torch.optim, s.torch_name)]


def plan(layouts: Sequence[str], only: set[str] | None, scale: Scale) -> list[tuple[str, str]]:
    """(layout, optimizer) rows in run order."""
    others = elementwise_with_torch() if scale.others_on_b is None else list(scale.others_on_b)
    rows = []
    for key in layouts:
        names = list(CORE) + (others + list(OPTIMKIT_ONLY) if key == "b" else [])
        rows += [(key, n) for n in names if only is None or n in only]
    return rows


# ------------------------------------------------------------------------------------------------
# Variants: what a column of a row is
# ------------------------------------------------------------------------------------------------

Builder = Callable[[Case, list[Tensor]], "torch.optim.Optimizer | None"]


@dataclass(frozen=True)
class Variant:
    """One way to run an optimizer. ``build`` returns None when the variant does not exist for
    the case (the row skips it); an exception while building or stepping also skips it, with
    the reason in the output."""

    name: str
    library: str  # "optimkit", "torch" or a peer's name; ratios compare against library "torch"
    build: Builder
    description: str = ""


#: Every variant, in column order. Add one with :func:`register_variant`.
VARIANTS: dict[str, Variant] = {}


def register_variant(name: str, library: str, description: str = "") -> Callable[[Builder], Builder]:
    def decorate(build: Builder) -> Builder:
        VARIANTS[name] = Variant(name, library, build, description)
        return build

    return decorate


def _accepts(cls: type, flag: str) -> bool:
    return flag in inspect.signature(cls).parameters


@register_variant("optimkit-default", "optimkit", "no executor flags")
def _optimkit_default(case: Case, params: list[Tensor]) -> Any:
    return None if case.spec is None else case.spec.cls(params, **case.kwargs)


@register_variant("optimkit-foreach", "optimkit", "foreach=True")
def _optimkit_foreach(case: Case, params: list[Tensor]) -> Any:
    if case.spec is None or not case.spec.supports_foreach or not _accepts(case.spec.cls, "foreach"):
        return None
    return case.spec.cls(params, foreach=True, **case.kwargs)


@register_variant("optimkit-fused", "optimkit", "fused=True")
def _optimkit_fused(case: Case, params: list[Tensor]) -> Any:
    if case.spec is None or not case.spec.supports_fused or not _accepts(case.spec.cls, "fused"):
        return None
    return case.spec.cls(params, fused=True, **case.kwargs)


def _flattened_copy(params: list[Tensor]) -> list[Tensor]:
    """Copies of ``params`` (and of their gradients) in flat buffers (``optimkit.flatten_parameters``).
    Copies, because the other variants of the row share ``params``."""
    import optimkit

    own = [p.detach().clone().requires_grad_() for p in params]
    optimkit.flatten_parameters(own)
    with torch.no_grad():
        for mine, theirs in zip(own, params):
            mine.grad.copy_(theirs.grad)  # type: ignore[union-attr]
    return own


@register_variant("optimkit-fastest", "optimkit", "flatten_parameters + fused=True")
def _optimkit_fastest(case: Case, params: list[Tensor]) -> Any:
    # Flat buffers, each stepped as one tensor by torch's fused kernel (Adam, AdamW, SGD,
    # Adagrad) or by the compiled rule (the other element-wise optimizers; compile time reported).
    if case.spec is None or not getattr(case.spec.cls, "_elementwise", False) or not _accepts(case.spec.cls, "fused"):
        return None
    return case.spec.cls(_flattened_copy(params), fused=True, **case.kwargs)


@register_variant("torch-default", "torch", "no executor flags")
def _torch_default(case: Case, params: list[Tensor]) -> Any:
    return None if case.torch_cls is None else case.torch_cls(params, **case.kwargs)


@register_variant("torch-foreach", "torch", "foreach=True")
def _torch_foreach(case: Case, params: list[Tensor]) -> Any:
    if case.torch_cls is None or not _accepts(case.torch_cls, "foreach"):
        return None
    return case.torch_cls(params, foreach=True, **case.kwargs)


@register_variant("torch-fused", "torch", "fused=True")
def _torch_fused(case: Case, params: list[Tensor]) -> Any:
    if case.torch_cls is None or not _accepts(case.torch_cls, "fused"):
        return None
    return case.torch_cls(params, fused=True, **case.kwargs)


# Optional peers: registered only when importable, and silent when they fail for a row.
_HEAVYBALL_CLASSES = {"adamw": ("ForeachAdamW", "AdamW"), "rmsprop": ("ForeachRMSprop", "RMSprop")}

if importlib.util.find_spec("heavyball") is not None:

    @register_variant("heavyball", "heavyball", "heavyball's foreach class (peer)")
    def _heavyball(case: Case, params: list[Tensor]) -> Any:
        try:
            heavyball = importlib.import_module("heavyball")
            for attr in _HEAVYBALL_CLASSES.get(case.name, ()):
                if hasattr(heavyball, attr):
                    return getattr(heavyball, attr)(params, lr=case.kwargs.get("lr", 1e-3))
        except Exception:  # noqa: BLE001 - an optional peer never fails the run
            return None
        return None


def is_peer(variant: Variant) -> bool:
    return variant.library not in ("optimkit", "torch")


# ------------------------------------------------------------------------------------------------
# Timing helpers
# ------------------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _quartiles(samples: Sequence[float]) -> tuple[float, float, float]:
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, q2, q3


def _summary_ms(samples_s: Sequence[float]) -> dict[str, Any]:
    ms = [s * 1e3 for s in samples_s]
    p25, median, p75 = _quartiles(ms)
    return {"median_ms": median, "p25_ms": p25, "p75_ms": p75, "min_ms": min(ms), "max_ms": max(ms),
            "samples_ms": ms}


class Roofline:
    """In-place ``a.add_(b)`` on ``numel`` float32 elements: bytes = 3 x numel x 4 (read a, read
    b, write a). Built once, then timed a sample at a time: at the start of a run and inside
    every row's round-robin."""

    def __init__(self, device: str, numel: int) -> None:
        self.device, self.numel = device, numel
        self.bytes = 3 * numel * 4
        self._a = torch.ones(numel, device=device)
        self._b = torch.full((numel,), 1e-7, device=device)
        for _ in range(2):
            self._a.add_(self._b)

    def sample(self) -> float:
        """Seconds of one ``add_``."""
        _sync(self.device)
        start = time.perf_counter()
        self._a.add_(self._b)
        _sync(self.device)
        return time.perf_counter() - start

    def gbps(self, seconds: float) -> float:
        return _gbps(self.bytes, seconds)


def _gbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e9


def measure_roofline(device: str, numel: int, repeats: int) -> dict[str, Any]:
    """The :class:`Roofline` at the start of a run: median and best of ``repeats`` samples."""
    roofline = Roofline(device, numel)
    samples = [roofline.sample() for _ in range(repeats)]
    summary = _summary_ms(samples)
    return {"numel": numel, "bytes": roofline.bytes, **summary,
            "gbps": roofline.gbps(summary["median_ms"] / 1e3), "gbps_best": roofline.gbps(min(samples))}


def _state_count(opt: torch.optim.Optimizer, params: list[Tensor]) -> list[int]:
    """Per parameter, the state tensors shaped like it (what a step must read and write). The
    optimizer's own parameters, in order (a variant may step copies of the row's)."""
    counts = []
    for p in [q for group in opt.param_groups for q in group["params"]]:
        state = opt.state.get(p, {})
        counts.append(sum(1 for v in state.values() if isinstance(v, Tensor) and v.shape == p.shape
                          and v.numel() == p.numel()))
    return counts


def _min_bytes(params: list[Tensor], counts: Sequence[int]) -> int:
    """Read p, g and S state tensors, write p and S state tensors: (3 + 2 S) x bytes of p."""
    return sum((3 + 2 * s) * p.numel() * p.element_size() for p, s in zip(params, counts))


# ------------------------------------------------------------------------------------------------
# One optimizer row
# ------------------------------------------------------------------------------------------------


def make_params(layout: Layout, device: str, seed: int = 0) -> tuple[list[Tensor], list[Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    params, grads = [], []
    for shape in layout.shapes:
        p = torch.randn(shape, generator=gen).to(device).requires_grad_()
        g = (torch.randn(shape, generator=gen) * 1e-3).to(device)
        p.grad = g
        params.append(p)
        grads.append(g)
    return params, grads


def bench_row(layout: Layout, case: Case, scale: Scale, device: str, repeats: int,
              variant_names: Sequence[str], placements: int = 1) -> dict[str, Any]:
    """Time every variant of one (layout, optimizer) row on shared parameters and gradients.

    With ``placements`` > 1 the row is timed that many times, each on freshly allocated
    parameters, gradients and optimizers (built in a rotated order), ``repeats // placements``
    repeats each, and the samples pooled: where tensors land in memory moves a step by up to 8%
    on this machine (the same kernels on two allocations), which one allocation per variant
    would charge to the variant.
    """
    samples: dict[str, list[float]] = {}
    skipped: dict[str, str] = {}
    first_step_s: dict[str, float] = {}
    per_placement = max(1, repeats // max(1, placements))
    roofline_s: list[float] = []
    for placement in range(max(1, placements)):
        shift = placement % max(1, len(variant_names))
        order = list(variant_names[shift:]) + list(variant_names[:shift])
        part = _time_row(layout, case, scale, device, per_placement, order)
        for name, values in part["samples"].items():
            samples.setdefault(name, []).extend(values)
        skipped.update(part["skipped"])
        roofline_s.extend(part["roofline_s"])
        roofline_bytes = part["roofline_bytes"]
        for name, seconds in part["first_step_s"].items():
            first_step_s.setdefault(name, seconds)
        counts, row_counts, row_bytes, steps, regrad = (part["counts"], part["row_counts"], part["row_bytes"],
                                                        part["steps"], part["regrad"])
        params = part["params"]
        del part
    # Column order as asked, whatever order a placement built them in.
    names = [n for n in variant_names if n in samples]
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        summary = _summary_ms(samples[name])
        results[name] = {**summary, "library": VARIANTS[name].library, "steps_per_sample": steps,
                         "state_tensors": max(counts[name]) if counts[name] else 0,
                         "first_step_s": first_step_s.get(name),
                         "gbps": _gbps(row_bytes, summary["median_ms"] / 1e3)}
    torch_times = {n: r["median_ms"] for n, r in results.items() if r["library"] == "torch"}
    torch_default = torch_times.get("torch-default")
    torch_best_name = min(torch_times, key=torch_times.__getitem__) if torch_times else None
    for r in results.values():
        r["vs_torch_default"] = r["median_ms"] / torch_default if torch_default else None
        r["vs_torch_best"] = r["median_ms"] / torch_times[torch_best_name] if torch_best_name else None
    roofline_ms = _summary_ms(roofline_s)["median_ms"]
    roofline_gbps = _gbps(roofline_bytes, roofline_ms / 1e3)
    for r in results.values():
        r["roof"] = r["gbps"] / roofline_gbps
    return {"layout": layout.key, "optimizer": case.name, "tensors": len(params), "numel": layout.numel,
            "roofline_gbps": roofline_gbps, "roofline_ms": roofline_ms,
            "state_tensors": max(row_counts) if row_counts else 0, "min_bytes": row_bytes,
            "regrad": regrad, "torch_best": torch_best_name, "variants": results, "skipped": skipped}


def _time_row(layout: Layout, case: Case, scale: Scale, device: str, repeats: int,
              variant_names: Sequence[str]) -> dict[str, Any]:
    """One placement of :func:`bench_row`: build the variants on new tensors, warm them up, and
    time ``repeats`` interleaved round-robin repeats."""
    params, grads = make_params(layout, device)
    master = [g.clone() for g in grads]
    optimizers: dict[str, torch.optim.Optimizer] = {}
    skipped: dict[str, str] = {}
    warm_times: dict[str, float] = {}
    first_step_s: dict[str, float] = {}  # the first step: where a compiled variant compiles
    regrad = False  # some variant changed the gradients: restore them before every step of all
    for name in variant_names:
        variant = VARIANTS[name]
        try:
            opt = variant.build(case, params)
            if opt is None:
                continue
            for _ in range(max(1, scale.warmup)):
                _sync(device)
                start = time.perf_counter()
                opt.step()
                _sync(device)
                warm_times[name] = time.perf_counter() - start
                first_step_s.setdefault(name, warm_times[name])
        except Exception as error:  # noqa: BLE001 - e.g. a fused kernel missing on this device
            if not is_peer(variant):
                skipped[name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            continue
        finally:
            if any(p.grad is not g for p, g in zip(params, grads)):
                regrad = True
            for p, g in zip(params, grads):
                p.grad = g
            if not all(torch.equal(g, m) for g, m in zip(grads, master)):
                regrad = True
                for g, m in zip(grads, master):
                    g.copy_(m)
        optimizers[name] = opt
    if not regrad:
        del master

    counts = {name: _state_count(opt, params) for name, opt in optimizers.items()}
    # The minimal traffic of the row: the fewest state tensors any variant keeps per parameter.
    row_counts = [min(c[i] for c in counts.values()) for i in range(len(params))] if counts else []
    row_bytes = _min_bytes(params, row_counts)

    names = list(optimizers)
    if scale.sample_s > 0 and warm_times:
        typical = statistics.median(warm_times[n] for n in names)
        steps = max(1, min(scale.max_steps_per_sample, round(scale.sample_s / max(typical, 1e-9))))
    else:
        steps = 1
    if regrad:
        steps = 1

    samples: dict[str, list[float]] = {n: [] for n in names}
    # The roofline's own add_, timed in the same round-robin: the machine's bandwidth moves over
    # minutes (one quiet machine measured 45, 53 and 66 GB/s at the starts of three runs), so a
    # row is compared with what the memory gave while the row ran.
    roofline = Roofline(device, scale.roofline_numel)
    roofline_s: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(repeats):
            order = names[r % len(names):] + names[:r % len(names)] if names else []
            roofline_s.append(roofline.sample())
            for name in order:
                opt = optimizers[name]
                if regrad:  # outside the timed region, for every variant alike
                    for p, g, m in zip(params, grads, master):
                        g.copy_(m)
                        p.grad = g
                _sync(device)
                start = time.perf_counter()
                for _ in range(steps):
                    opt.step()
                _sync(device)
                samples[name].append((time.perf_counter() - start) / steps)
    finally:
        if gc_was_enabled:
            gc.enable()

    del optimizers
    return {"samples": samples, "skipped": skipped, "first_step_s": first_step_s, "counts": counts,
            "row_counts": row_counts, "row_bytes": row_bytes, "steps": steps, "regrad": regrad, "params": params,
            "roofline_s": roofline_s, "roofline_bytes": roofline.bytes}


# ------------------------------------------------------------------------------------------------
# Printing
# ------------------------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None) -> str:
    """Aligned columns (``right``: which are right-aligned; default all but the first). A row
    shorter than the headers (one that did not run: its reason) spans the columns after its first."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells if len(r) > i) for i in range(len(headers))]
    right = right or [i > 0 for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        if len(row) < len(headers):
            lines.append("  ".join([row[0].ljust(widths[0]), *row[1:]]))
        else:
            lines.append("  ".join(c.rjust(w) if right[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _ms(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}"


def print_rows(rows: list[dict[str, Any]], layouts: dict[str, Layout]) -> None:
    for key in dict.fromkeys(r["layout"] for r in rows):
        layout = layouts[key]
        print(f"\nlayout {key}: {layout.title}, {len(layout.shapes)} tensors, {layout.numel / 1e6:.2f}M elements "
              f"({layout.numel * 4 / 1e6:.1f} MB fp32)\n  {layout.detail}")
        table = []
        for row in (r for r in rows if r["layout"] == key):
            table.append([row["optimizer"], f"(roofline add_ in this row: {row['roofline_gbps']:.1f} GB/s)"])
            first = True
            for name, v in row["variants"].items():
                label = f"{row['optimizer']} (S={row['state_tensors']})" if first else ""
                first = False
                best = " *" if name == row["torch_best"] else ""
                table.append([label, name + best, _ms(v["median_ms"]), f"{_ms(v['p25_ms'])}-{_ms(v['p75_ms'])}",
                              v["steps_per_sample"], f"{v['gbps']:.1f}", f"{v['roof']:.2f}",
                              _fmt(v["vs_torch_default"]), _fmt(v["vs_torch_best"])])
            for name, why in row["skipped"].items():
                table.append(["", name, "skipped", why[:60], "", "", "", "", ""])
        print(_table(["optimizer", "variant", "ms/step", "p25-p75 ms", "steps", "GB/s", "roof", "/torch-def",
                      "/torch-best"], table, right=[False, False] + [True] * 7))
        compiles = [f"{r['optimizer']} {r['variants']['optimkit-fastest']['first_step_s']:.1f}s"
                    for r in rows if r["layout"] == key and "optimkit-fastest" in r["variants"]
                    and (r["variants"]["optimkit-fastest"]["first_step_s"] or 0) > 0.5]
        if compiles:
            print("  first step of optimkit-fastest (compiles the rule, not timed above): " + ", ".join(compiles))


def print_summary(rows: list[dict[str, Any]]) -> None:
    """Per row: optimkit's default and best variant against torch's default and best."""
    table, default_ratios, best_ratios = [], [], []
    for row in rows:
        v = row["variants"]
        ours = {n: r["median_ms"] for n, r in v.items() if r["library"] == "optimkit"}
        if not ours or row["torch_best"] is None:
            continue
        best_ours = min(ours, key=ours.__getitem__)
        torch_best = v[row["torch_best"]]["median_ms"]
        d = v["optimkit-default"]["vs_torch_default"] if "optimkit-default" in v else None
        b = ours[best_ours] / torch_best
        if d is not None:
            default_ratios.append(d)
        best_ratios.append(b)
        table.append([row["layout"], row["optimizer"], _fmt(d), best_ours, row["torch_best"], _fmt(b)])
    if not table:
        return
    print("\nsummary (ratio < 1.00: optimkit faster)")
    print(_table(["layout", "optimizer", "ok-default/torch-default", "optimkit best", "torch best",
                  "ok-best/torch-best"], table, right=[False, False, True, False, False, True]))
    if default_ratios:
        print(f"geometric mean: default/default {statistics.geometric_mean(default_ratios):.2f}, "
              f"best/best {statistics.geometric_mean(best_ratios):.2f} over {len(best_ratios)} rows")


def print_schedulers(rows: list[dict[str, Any]]) -> None:
    print("\nscheduler.step() over torch.optim.SGD(momentum=0.9), microseconds per call (median)")
    print(_table(["scheduler", "groups", "lr", "optimkit us", "torch us", "ratio"],
                 [[r["scheduler"], r["groups"], r["lr"], f"{r['optimkit_us']:.1f}", f"{r['torch_us']:.1f}",
                   f"{r['ratio']:.2f}"] for r in rows], right=[False, True, False, True, True, True]))


def print_compile(result: dict[str, Any]) -> None:
    print(f"\nrecompiles of torch.compile(opt.step) (optimkit Adam, lr=torch.tensor(0.01), "
          f"{result['steps']} steps, backend={result['backend']}; recompiles = graphs after the first 2 steps)")

    def cell(r: dict[str, Any]) -> list[str]:
        if r.get("error") == "n/a":
            return ["-", "-", "-", "-"]
        if "error" in r:
            return ["error", r["error"][:50], "", ""]
        return [str(r["recompiles"]), str(r["graphs"]), f"{r['compile_s']:.2f}", "yes" if r["lr_moved"] else "no"]

    table = [[row["scheduler"], *cell(row["optimkit"]), *cell(row["torch"])] for row in result["rows"]]
    print(_table(["scheduler", "optimkit recompiles", "graphs", "compile s", "lr moved",
                  "torch-sched recompiles", "graphs", "compile s", "lr moved"], table))
    for row in result["rows"]:
        for lib in ("optimkit", "torch"):
            reason = row[lib].get("first_reason")
            if reason:
                print(f"  {row['scheduler']} ({lib} scheduler): first recompile: {reason}")


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller layouts and fewer repeats (under 2 minutes)")
    parser.add_argument("--smoke", action="store_true", help="tiny everything, for the test suite")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--layouts", default="a,b,c", help="comma-separated subset of a,b,c")
    parser.add_argument("--optimizers", default=None, help="comma-separated registry names (default: all rows)")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples per variant")
    parser.add_argument("--placements", type=int, default=None,
                        help="fresh allocations of each row's tensors, the repeats shared among them")
    parser.add_argument("--threads", type=int, default=_cores(), help="torch.set_num_threads (default: all cores)")
    parser.add_argument("--json", type=Path, default=None, help="write every result to this file")
    parser.add_argument("--no-steps", action="store_true", help="skip the optimizer-step section")
    parser.add_argument("--no-schedulers", action="store_true", help="skip the scheduler section")
    parser.add_argument("--no-compile", action="store_true", help="skip the recompile section")
    parser.add_argument("--compile-backend", default="eager",
                        help="torch.compile backend for the recompile section (eager: dynamo only, fast; "
                             "recompiles are decided by dynamo's guards whatever the backend)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    args.layouts = [k.strip() for k in args.layouts.split(",") if k.strip()]
    unknown = [k for k in args.layouts if k not in LAYOUTS]
    if unknown:
        parser.error(f"unknown layouts {unknown}; choose from a, b, c")
    if args.optimizers:
        args.optimizers = {n.strip().lower() for n in args.optimizers.split(",") if n.strip()}
        known = {s.name for s in optimizer_specs()}
        if args.optimizers - known:
            parser.error(f"unknown optimizers {sorted(args.optimizers - known)}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    scale = SCALES["smoke" if args.smoke else "quick" if args.quick else "full"]
    repeats = args.repeats or scale.repeats
    placements = args.placements or scale.placements
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
                 "processor": platform.processor(), "cores": _cores(), "threads": args.threads,
                 "device": args.device, "scale": scale.name, "repeats": repeats, "placements": placements,
                 "warmup": scale.warmup,
                 "variants": {n: {"library": v.library, "description": v.description} for n, v in VARIANTS.items()},
                 "scale_changes": list(scale.changes), "argv": list(argv) if argv is not None else sys.argv[1:]},
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(f"torch {torch.__version__}, device={args.device}, threads={args.threads} of {_cores()} cores, "
                  f"scale={scale.name}, warm-up={scale.warmup}, repeats={repeats} over {placements} allocation(s) "
                  "(interleaved round-robin)")
            for change in scale.changes:
                print(f"  {scale.name}: {change}")

            roof = measure_roofline(args.device, scale.roofline_numel, scale.roofline_repeats)
            results["roofline"] = roof
            print(f"\nroofline: a.add_(b) float32, {roof['numel'] / 1e6:.1f}M elements, 3 x numel x 4 bytes: "
                  f"{roof['gbps']:.1f} GB/s median ({roof['median_ms']:.2f} ms), {roof['gbps_best']:.1f} GB/s best")

            layouts = {k: LAYOUTS[k](scale.shrink) for k in args.layouts}
            rows: list[dict[str, Any]] = []
            if not args.no_steps:
                variant_names = list(VARIANTS)
                print(f"\noptimizer steps: variants {', '.join(variant_names)}; fixed gradients shared by every "
                      f"variant of a row; GB/s = (3 + 2 S) x bytes of p / step time, S = state tensors shaped "
                      f"like p (fewest kept by any variant); roof = GB/s / the roofline's add_ timed in the row's own "
                      f"round-robin (one sample per repeat); * = torch's fastest")
                print("  not benchmarked (not element-wise): "
                      + ", ".join(f"{k} ({v})" for k, v in NOT_ELEMENTWISE.items()))
                for key, name in plan(args.layouts, args.optimizers, scale):
                    row = bench_row(layouts[key], make_case(name), scale, args.device, repeats, variant_names,
                                    placements)
                    rows.append(row)
                    gc.collect()
                results["steps"] = rows
                print_rows(rows, layouts)
                print_summary(rows)
                results["layouts"] = {k: {"title": v.title, "tensors": len(v.shapes), "numel": v.numel,
                                          "detail": v.detail, "shapes": [list(s) for s in v.shapes]}
                                      for k, v in layouts.items()}

            if not args.no_schedulers:
                results["schedulers"] = bench_schedulers(scale)
                print_schedulers(results["schedulers"])

            if args.no_compile:
                results["compile"] = {"skipped": "--no-compile"}
            else:
                results["compile"] = bench_compile(scale, args.compile_backend)
                print_compile(results["compile"])
    finally:
        torch.set_num_threads(threads_before)
    results["meta"]["wall_s"] = time.perf_counter() - started
    print(f"\nwall time {results['meta']['wall_s']:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
        print(f"results written to {args.json}")
    return results


if __name__ == "__main__":
    main()
