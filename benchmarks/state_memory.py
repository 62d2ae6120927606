"""Memory-lean optimizer state: test accuracy, state bytes and step time of AdamW with float32,
bfloat16 and 8-bit moments, against bitsandbytes' and torchao's low-bit AdamW (issue 15).

Rows (``--rows``; a row that cannot run on this machine is printed with the reason, never dropped):

* ``fp32``: ``optimkit.optim.AdamW`` as it is by default (float32 moments), the reference row;
* ``bf16``: ``AdamW(..., state_dtype=torch.bfloat16)``;
* ``int8``: ``AdamW(..., state_dtype="int8")``, 8-bit block-wise codes (Dettmers et al., 2022);
* ``bnb-8bit``: ``bitsandbytes.optim.AdamW8bit`` (block-wise; tensors under 4096 entries keep
  float32 state, the library's default ``min_8bit_size``);
* ``ao-8bit``, ``ao-4bit``, ``ao-fp8``: ``torchao.optim.AdamW8bit`` / ``AdamW4bit`` / ``AdamWFp8``
  (tensors under 4096 entries, or not a multiple of the block size, keep float32 state; every
  step runs a ``torch.compile``d kernel per parameter shape, so their first steps compile).

Every row gets the same hyperparameters, chosen for float32 AdamW. Columns, from one run:

1. **Test accuracy**, mean +- standard deviation over the seeds (``--seeds``, default 3), and the
   difference of the means to ``fp32`` in percentage points, on two tasks (``--tasks``):

   * ``demo``: the demo's MLP (``optimkit.demo.make_model``, one hidden layer of 128) on its
     digits (``optimkit.demo.load_data``), with the demo's AdamW config (lr 3e-3, weight decay
     0.01, batch 64, 20 epochs, 46 steps of linear warm-up from 1 %, then cosine to 0);
   * ``cnn``: a small CNN (two 3x3 convolutions of 16 and 32 channels, max-pool, 512-128-10
     head; 71.8k weights) on the same digits as 1x8x8 images, with the same config.

   Both use one fixed train/test split (the demo's, seed 0: 1437 / 360 images, so one test image
   is 0.28 pp); a seed sets the initial weights and the batch order, the same for every row, so
   rows are compared on identical runs.
2. **State bytes per parameter** (``optimkit.state_bytes``: every tensor in ``opt.state`` once,
   tensor subclasses through their inner tensors) and the ratio to ``fp32``, on a fixed larger
   model: 4 layers of 1024x1024 weights + 1024 biases (4.2M parameters). Per task model too.
3. **Step time** of ``opt.step()`` on that model with fixed gradients: ms/step median and p25-p75
   over interleaved repeats (each repeat runs every row once, in rotated order, after warm-up
   steps that include torchao's compilation), and the ratio of medians to ``fp32``. It uses
   ``--threads`` (default: all cores); the training uses ``--train-threads`` (default 1: the task
   models are too small for a second thread to pay). On a machine shared with other jobs, two
   threads can make a step 20x slower at random: ``--threads 1`` gives steadier ratios there.

Last, the issue's must-show: ``int8`` within 0.5 pp of ``fp32``'s mean test accuracy on every task
(either way), with state memory <= 0.3x ``fp32``'s on the timing model; every non-fp32 row gets the
same checks, printed as measured ("yes" / "NO"), with the state ratios on the task models beside.

Examples::

    python benchmarks/state_memory.py                      # ~3 minutes on 2 cores
    python benchmarks/state_memory.py --quick              # under a minute: 8 epochs, 2 seeds
    python benchmarks/state_memory.py --rows fp32,int8,bnb-8bit --tasks cnn --seeds 5
    python benchmarks/state_memory.py --smoke --json out.json   # seconds; numbers meaningless
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The script runs from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimkit.demo import DigitsData, load_data, make_model  # noqa: E402
from optimkit.optim import AdamW  # noqa: E402

# The helpers of the step benchmark beside this script (timing quartiles, tables, core count).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_bench import _cores, _quartiles, _table  # noqa: E402

# ------------------------------------------------------------------------------------------------
# Settings per scale
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """How long a run is: seeds, epochs per task, the timing model and its repeats."""

    name: str
    seeds: int
    epochs: dict[str, int]  # task key -> epochs
    timing_layers: int
    timing_dim: int
    warmup: int  # untimed steps per row before timing (torchao compiles in the first)
    repeats: int
    sample_s: float  # target seconds per timed sample (several steps when one step is short)
    max_steps_per_sample: int
    note: str = ""


SCALES = {
    "full": Scale("full", seeds=3, epochs={"demo": 20, "cnn": 20}, timing_layers=4, timing_dim=1024,
                  warmup=3, repeats=15, sample_s=0.1, max_steps_per_sample=20),
    "quick": Scale("quick", seeds=2, epochs={"demo": 8, "cnn": 8}, timing_layers=2, timing_dim=1024,
                   warmup=2, repeats=7, sample_s=0.05, max_steps_per_sample=10,
                   note="quick: 2 seeds, 8 epochs per task, timing on 2 layers, 7 repeats (full: 3, 20, 4, 15)"),
    "smoke": Scale("smoke", seeds=1, epochs={"demo": 1, "cnn": 1}, timing_layers=2, timing_dim=256,
                   warmup=1, repeats=2, sample_s=0.0, max_steps_per_sample=1,
                   note="smoke test: 1 seed, 1 epoch, timing on 2 layers of 256x256, numbers meaningless"),
}

# ------------------------------------------------------------------------------------------------
# Rows: one optimizer each
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hyper:
    """AdamW hyperparameters, passed explicitly to every row (the libraries' defaults differ)."""

    lr: float = 3e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01

    def kwargs(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}


Builder = Callable[[list[Tensor], Hyper], torch.optim.Optimizer]


@dataclass(frozen=True)
class Row:
    """One optimizer. ``module`` is imported first: its absence is reported as "not installed"."""

    key: str
    label: str
    library: str
    module: str
    build: Builder
    detail: str


def _import(module: str) -> Any:
    # bitsandbytes and torchao log about optional kernels (4-bit matmul, CUDA extensions) at
    # import; none of them is an optimizer, so their warnings would only bury the tables.
    logging.disable(logging.WARNING)
    try:
        return importlib.import_module(module)
    finally:
        logging.disable(logging.NOTSET)


def _torchao(name: str) -> Builder:
    def build(params: list[Tensor], hp: Hyper) -> torch.optim.Optimizer:
        return getattr(_import("torchao.optim"), name)(params, **hp.kwargs())

    return build


ROWS: dict[str, Row] = {r.key: r for r in [
    Row("fp32", "AdamW fp32 (optimkit)", "optimkit", "optimkit.optim",
        lambda ps, hp: AdamW(ps, **hp.kwargs()), "default: two float32 moments"),
    Row("bf16", "AdamW bf16 (optimkit)", "optimkit", "optimkit.optim",
        lambda ps, hp: AdamW(ps, **hp.kwargs(), state_dtype=torch.bfloat16), "state_dtype=torch.bfloat16"),
    Row("int8", "AdamW 8-bit (optimkit)", "optimkit", "optimkit.optim",
        lambda ps, hp: AdamW(ps, **hp.kwargs(), state_dtype="int8"), 'state_dtype="int8"'),
    Row("bnb-8bit", "AdamW8bit (bitsandbytes)", "bitsandbytes", "bitsandbytes",
        lambda ps, hp: _import("bitsandbytes").optim.AdamW8bit(ps, **hp.kwargs()),
        "bitsandbytes.optim.AdamW8bit: block-wise, float32 state under 4096 entries"),
    Row("ao-8bit", "AdamW8bit (torchao)", "torchao", "torchao.optim", _torchao("AdamW8bit"),
        "torchao.optim.AdamW8bit: blocks of 256, float32 state under 4096 entries"),
    Row("ao-4bit", "AdamW4bit (torchao)", "torchao", "torchao.optim", _torchao("AdamW4bit"),
        "torchao.optim.AdamW4bit: blocks of 128, float32 state under 4096 entries"),
    Row("ao-fp8", "AdamWFp8 (torchao)", "torchao", "torchao.optim", _torchao("AdamWFp8"),
        "torchao.optim.AdamWFp8: float8_e4m3fn, blocks of 256, float32 state under 4096 entries"),
]}
REFERENCE = "fp32"


def _reason(error: BaseException) -> str:
    """One line saying why a row cannot run."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if "cuda" in text.lower() or "gpu" in text.lower():
        return f"needs CUDA ({type(error).__name__}: {text[:120]})"
    return f"{type(error).__name__}: {text[:160]}"


def probe(row: Row, hp: Hyper) -> str | None:
    """None when ``row`` builds and steps here, else why not ("not installed", "needs CUDA", ...).

    The probe parameter is 128x64 (8192 entries): above the 4096-entry threshold under which
    bitsandbytes and torchao keep float32 state, so their quantized path is what is probed, and
    the shape of the demo MLP's first layer, so torchao's compiled kernel is reused later."""
    try:
        _import(row.module)
    except ImportError as error:
        return f"not installed ({error})"
    gen = torch.Generator().manual_seed(0)
    p = nn.Parameter(torch.randn(128, 64, generator=gen))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = row.build([p], hp)
            for _ in range(2):
                p.grad = torch.randn(128, 64, generator=gen)
                opt.step()
    except Exception as error:  # noqa: BLE001 - any failure is this row's result, not the run's
        return _reason(error)
    if not torch.isfinite(p).all():
        return "steps to non-finite values"
    return None


# ------------------------------------------------------------------------------------------------
# State bytes
# ------------------------------------------------------------------------------------------------


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """``optimkit.state_bytes``: every tensor in ``opt.state`` once (bitsandbytes shares one table
    among all parameters), a tensor subclass (torchao's low-bit state) through its inner tensors."""
    import optimkit

    return int(optimkit.state_bytes(optimizer))


def _numel(optimizer: torch.optim.Optimizer) -> int:
    return sum(p.numel() for group in optimizer.param_groups for p in group["params"])


# ------------------------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A model on the digits, trained by the same loop for every row."""

    key: str
    title: str
    detail: str
    model: Callable[[int], nn.Module]  # seed -> fresh model, initial weights from that seed
    hyper: Hyper
    batch_size: int = 64
    warmup_steps: int = 46  # the demo's: 2 epochs of 23 steps


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    # As optimkit.demo.make_model: the weights come from the seed, the caller's stream is untouched.
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return build()
    finally:
        torch.random.set_rng_state(state)


def digits_cnn(seed: int) -> nn.Module:
    """Two 3x3 convolutions (16, 32 channels, ReLU), 2x2 max-pool, 512-128-10 head (24k weights),
    on the demo's flat 64-feature digits seen as 1x8x8 images."""
    return _seeded(seed, lambda: nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, 10)))


# Hyperparameters for float32 AdamW: the demo's adamw-warmup-cosine config for both. On the CNN,
# fp32 AdamW over 3 seeds at 20 epochs reached 97.8 / 98.2 / 98.2 / 98.3 % with lr 2e-3 / 3e-3 /
# 5e-3 / 1e-2 (and 98.3 % with 30 epochs at any of 3e-3..1e-2), so the demo's 3e-3 is on the plateau.
TASKS: dict[str, Task] = {t.key: t for t in [
    Task("demo", "demo MLP", "optimkit.demo.make_model((128,)): 64-128-10 MLP, 9.6k weights; the demo's "
         "adamw-warmup-cosine config", lambda seed: make_model((128,), seed=seed), Hyper(lr=3e-3)),
    Task("cnn", "digits CNN", "conv 1->16->32 (3x3), max-pool, 512-128-10 head, 71.8k weights",
         digits_cnn, Hyper(lr=3e-3)),
]}


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """The demo's schedule in closed form: LinearLR from 1 % over ``warmup`` steps, then cosine
    annealing to 0 at ``total`` (what its adamw-warmup-cosine config does, for any optimizer)."""
    warmup = min(warmup, max(total - 1, 0))
    if step < warmup:
        return peak * (0.01 + 0.99 * step / warmup)
    span = max(total - warmup, 1)
    return peak * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / span))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    # torchao keeps lr as a 0-dim tensor (its compiled kernel would recompile for every new float)
    # and refuses a float: change it in place there; a plain assignment elsewhere.
    for group in optimizer.param_groups:
        if isinstance(group["lr"], Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def train_once(task: Task, row: Row, seed: int, data: DigitsData, epochs: int) -> dict[str, Any]:
    """Train ``task``'s model from ``seed`` with ``row``'s optimizer: accuracy, loss, state bytes."""
    model = task.model(seed)
    params = list(model.parameters())
    opt = row.build(params, task.hyper)
    generator = torch.Generator().manual_seed(seed)
    total = epochs * data.steps_per_epoch(task.batch_size)
    step, finite = 0, True
    start = time.perf_counter()
    for _ in range(epochs):
        for inputs, targets in data.batches(task.batch_size, generator):
            set_lr(opt, lr_at(step, total, task.hyper.lr, task.warmup_steps))
            loss = F.cross_entropy(model(inputs), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            finite = finite and bool(torch.isfinite(loss))
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        train_loss = float(F.cross_entropy(model(data.x_train), data.y_train))
        accuracy = float((model(data.x_test).argmax(dim=1) == data.y_test).float().mean())
    return {"seed": seed, "test_accuracy": accuracy, "train_loss": train_loss, "finite": finite,
            "seconds": seconds, "steps": step, "state_bytes": state_bytes(opt), "numel": _numel(opt)}


def run_task(task: Task, rows: Sequence[Row], seeds: Sequence[int], data: DigitsData, epochs: int) -> dict[str, Any]:
    """Every row on every seed; a row whose training fails keeps its error instead of numbers."""
    out: dict[str, Any] = {}
    for row in rows:
        runs: list[dict[str, Any]] = []
        try:
            for seed in seeds:
                runs.append(train_once(task, row, seed, data, epochs))
        except Exception as error:  # noqa: BLE001 - reported in the row
            out[row.key] = {"error": _reason(error), "runs": runs}
            print(f"  {row.key:<9} error: {out[row.key]['error']}", flush=True)
            continue
        acc = [100 * r["test_accuracy"] for r in runs]
        out[row.key] = {"runs": runs, "mean": statistics.fmean(acc),
                        "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                        "state_bytes": runs[-1]["state_bytes"], "numel": runs[-1]["numel"],
                        "seconds": sum(r["seconds"] for r in runs), "finite": all(r["finite"] for r in runs)}
        print(f"  {row.key:<9} {out[row.key]['mean']:6.2f} +- {out[row.key]['std']:.2f} % "
              f"({out[row.key]['seconds']:.1f} s)", flush=True)
        gc.collect()
    ref = out.get(REFERENCE, {})
    for key, res in out.items():
        if "mean" in res and "mean" in ref:
            res["diff_pp"] = res["mean"] - ref["mean"]
            # Paired by seed (same initial weights and batches): the spread of the differences.
            res["paired_diff_pp"] = [100 * (a["test_accuracy"] - b["test_accuracy"])
                                     for a, b in zip(res["runs"], ref["runs"])]
            res["memory_ratio"] = res["state_bytes"] / ref["state_bytes"]
    return out


# ------------------------------------------------------------------------------------------------
# Step time and state memory on the timing model
# ------------------------------------------------------------------------------------------------


def timing_params(layers: int, dim: int, seed: int = 0) -> list[Tensor]:
    """``layers`` x (a dim x dim weight, a dim bias) with fixed gradients, shared by every row."""
    gen = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(layers):
        for shape in ((dim, dim), (dim,)):
            p = nn.Parameter(torch.randn(shape, generator=gen) / math.sqrt(dim))
            p.grad = torch.randn(shape, generator=gen) * 1e-3
            params.append(p)
    return params


def bench_steps(rows: Sequence[Row], scale: Scale, hp: Hyper) -> dict[str, Any]:
    """``opt.step()`` time and state bytes of every row on the same parameters and gradients.

    Each row has its own optimizer over the shared parameters (a step moves them, which changes
    no step's cost). After warm-up, ``repeats`` rounds each time every row once, the order
    rotating from round to round, so that a slow spell of a shared machine hits all rows alike."""
    params = timing_params(scale.timing_layers, scale.timing_dim)
    numel = sum(p.numel() for p in params)
    grads = [p.grad for p in params]
    optimizers: dict[str, torch.optim.Optimizer] = {}
    out: dict[str, Any] = {"numel": numel, "layers": scale.timing_layers, "dim": scale.timing_dim, "rows": {}}
    warm: dict[str, float] = {}
    for row in rows:
        try:
            opt = row.build(params, hp)
            first = time.perf_counter()
            for i in range(max(1, scale.warmup)):
                start = time.perf_counter()
                opt.step()
                warm[row.key] = time.perf_counter() - start
                if i == 0:
                    first_s = warm[row.key]
        except Exception as error:  # noqa: BLE001 - reported in the row
            out["rows"][row.key] = {"error": _reason(error)}
            continue
        finally:
            for p, g in zip(params, grads):  # in case a library consumed or replaced them
                p.grad = g
        optimizers[row.key] = opt
        nbytes = state_bytes(opt)
        out["rows"][row.key] = {"state_bytes": nbytes,
                                "bytes_per_param": nbytes / numel, "first_step_s": first_s,
                                "warmup_s": time.perf_counter() - first}

    names = list(optimizers)
    if scale.sample_s > 0 and warm:
        typical = statistics.median(warm[n] for n in names)
        steps = max(1, min(scale.max_steps_per_sample, round(scale.sample_s / max(typical, 1e-9))))
    else:
        steps = 1
    samples: dict[str, list[float]] = {n: [] for n in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection inside one row's sample would be charged to that row
    try:
        for r in range(scale.repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:
                opt = optimizers[name]
                start = time.perf_counter()
                for _ in range(steps):
                    opt.step()
                samples[name].append((time.perf_counter() - start) / steps)
    finally:
        if gc_was_enabled:
            gc.enable()
    for name in names:
        ms = [s * 1e3 for s in samples[name]]
        p25, median, p75 = _quartiles(ms)
        out["rows"][name].update({"median_ms": median, "p25_ms": p25, "p75_ms": p75, "samples_ms": ms,
                                  "steps_per_sample": steps})
    ref = out["rows"].get(REFERENCE, {})
    for res in out["rows"].values():
        if "median_ms" in res and "median_ms" in ref:
            res["time_ratio"] = res["median_ms"] / ref["median_ms"]
        if "state_bytes" in res and "state_bytes" in ref:
            res["memory_ratio"] = res["state_bytes"] / ref["state_bytes"]
    return out


# ------------------------------------------------------------------------------------------------
# The must-show
# ------------------------------------------------------------------------------------------------

ACCURACY_PP = 0.5
MEMORY_RATIO = 0.3


def checks(key: str, tasks: dict[str, dict[str, Any]], timing: dict[str, Any]) -> dict[str, Any]:
    """For row ``key``: each task's |mean accuracy - fp32's| <= 0.5 pp, and state <= 0.3x fp32's
    on the timing model (where the state's size is what matters: 4.2M parameters in big tensors)
    and, reported separately, on each task's model. None where a number is missing."""
    acc = {t: (abs(r[key]["diff_pp"]) <= ACCURACY_PP + 1e-9 if "diff_pp" in r.get(key, {}) else None)
           for t, r in tasks.items()}
    ratio = timing["rows"].get(key, {}).get("memory_ratio")
    task_ratio = {t: r.get(key, {}).get("memory_ratio") for t, r in tasks.items()}
    memory = None if ratio is None else ratio <= MEMORY_RATIO
    holds = None if memory is None or not acc or None in acc.values() else memory and all(acc.values())
    return {"accuracy": acc, "memory": memory, "memory_ratio": ratio, "task_memory_ratio": task_ratio,
            "holds": holds}


# ------------------------------------------------------------------------------------------------
# Printing
# ------------------------------------------------------------------------------------------------


def _yes(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "NO"


def _ms(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}"


def print_main(results: dict[str, Any]) -> None:
    tasks, timing, status = results["tasks"], results["timing"], results["rows"]
    headers = ["optimizer"]
    for key in tasks:
        headers += [f"{TASKS[key].title} acc %", "diff pp"]
    headers += ["state B/param", "x fp32", "ms/step", "p25-p75", "x fp32"]
    table: list[list[str]] = []
    for key, info in status.items():
        label = ROWS[key].label
        if info["skipped"]:
            table.append([label, f"not run: {info['skipped']}"])
            continue
        cells = [label]
        for res in tasks.values():
            r = res.get(key, {})
            if "error" in r:
                cells += [f"error: {r['error'][:40]}", ""]
                continue
            mark = "" if r["finite"] else " (non-finite loss)"
            diff = "-" if key == REFERENCE else f"{r.get('diff_pp', math.nan):+.2f}"
            cells += [f"{r['mean']:.2f} +- {r['std']:.2f}{mark}", diff]
        t = timing["rows"].get(key, {})
        if "error" in t:
            cells += [f"error: {t['error'][:50]}", "", "", "", ""]
        else:
            cells += [f"{t['bytes_per_param']:.3f}", f"{t.get('memory_ratio', math.nan):.3f}", _ms(t["median_ms"]),
                      f"{_ms(t['p25_ms'])}-{_ms(t['p75_ms'])}", f"{t.get('time_ratio', math.nan):.2f}"]
        table.append(cells)
    print(f"\nstate memory and step time on {timing['layers']} x ({timing['dim']}x{timing['dim']} weight + "
          f"{timing['dim']} bias) = {timing['numel'] / 1e6:.2f}M parameters; accuracy: mean +- std over seeds "
          f"{results['meta']['seeds']}, diff = mean - fp32's mean")
    print(_table(headers, table, right=[False] + [True] * (len(headers) - 1)))


def print_memory(results: dict[str, Any]) -> None:
    """State bytes per parameter on every model: small tensors keep float32 state in some libraries."""
    tasks, timing = results["tasks"], results["timing"]
    headers = ["optimizer"] + [f"{TASKS[k].title} ({next(iter(r.values()), {}).get('numel', 0) / 1e3:.1f}k)"
                               for k, r in tasks.items()] + [f"timing model ({timing['numel'] / 1e6:.1f}M)"]
    table = []
    for key, info in results["rows"].items():
        if info["skipped"]:
            continue
        cells = [ROWS[key].label]
        for res in [*tasks.values(), timing["rows"]]:
            r = res.get(key, {})
            if "state_bytes" not in r:
                cells.append("-")
                continue
            per = r["state_bytes"] / r.get("numel", timing["numel"])
            cells.append(f"{per:.3f} ({r.get('memory_ratio', math.nan):.3f}x)")
        table.append(cells)
    print("\noptimizer state, bytes per parameter (ratio to fp32) on each model")
    print(_table(headers, table, right=[False] + [True] * (len(headers) - 1)))


def print_checks(results: dict[str, Any]) -> None:
    print(f"\nchecks: |mean accuracy - fp32's| <= {ACCURACY_PP} pp on each task; state <= {MEMORY_RATIO}x fp32's "
          f"on the timing model")
    for key, c in results["checks"].items():
        diffs = {t: results["tasks"][t].get(key, {}).get("diff_pp", math.nan) for t in c["accuracy"]}
        acc = ", ".join(f"{TASKS[t].title} {diffs[t]:+.2f} pp {_yes(ok)}" for t, ok in c["accuracy"].items())
        ratio = "-" if c["memory_ratio"] is None else f"{c['memory_ratio']:.3f}x"
        tasks = ", ".join(f"{TASKS[t].title} {r:.3f}x" for t, r in c["task_memory_ratio"].items() if r is not None)
        print(f"  {ROWS[key].label:<26} accuracy: {acc}; memory {ratio}: {_yes(c['memory'])}"
              + (f" (task models: {tasks})" if tasks else "") + f" -> {_yes(c['holds'])}")
    c = results["checks"].get("int8")
    if "int8" not in results["rows"]:
        verdict = "n/a (the int8 row was not asked for: --rows)"
    elif c is None:
        verdict = f"n/a (the int8 row did not run: {results['rows']['int8']['skipped']})"
    else:
        verdict = {True: "HOLDS", False: "DOES NOT HOLD", None: "n/a (numbers missing)"}[c["holds"]]
        diffs = ", ".join(f"{TASKS[t].title} {results['tasks'][t].get('int8', {}).get('diff_pp', math.nan):+.2f} pp"
                          for t in c["accuracy"])
        ratio = "-" if c["memory_ratio"] is None else f"{c['memory_ratio']:.3f}x"
        verdict += f" ({diffs}; state {ratio} of fp32's on the timing model)"
    print(f"\nmust-show (issue 15): optimkit 8-bit AdamW within {ACCURACY_PP} pp of fp32 AdamW's mean test accuracy "
          f"on every task over {len(results['meta']['seeds'])} seed(s), state memory <= {MEMORY_RATIO}x: {verdict}")


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------


def _split(value: str, known: Sequence[str], what: str, parser: argparse.ArgumentParser) -> list[str]:
    keys = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in keys if k not in known]
    if unknown or not keys:
        parser.error(f"unknown {what} {unknown}; choose from {', '.join(known)}")
    return keys


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 8 epochs, smaller timing model (~1 minute)")
    parser.add_argument("--smoke", action="store_true", help="tiny everything, for the test suite")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default: 3, --quick 2, --smoke 1)")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated subset of {','.join(TASKS)}")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples per row")
    parser.add_argument("--threads", type=int, default=_cores(),
                        help="torch.set_num_threads for the step-time section (default: all cores)")
    parser.add_argument("--train-threads", type=int, default=1,
                        help="torch.set_num_threads while training the task models (default: 1; see main())")
    parser.add_argument("--json", type=Path, default=None, help="write every result to this file")
    args = parser.parse_args(argv)
    args.tasks = _split(args.tasks, list(TASKS), "tasks", parser)
    args.rows = _split(args.rows, list(ROWS), "rows", parser)
    if REFERENCE not in args.rows:  # every ratio and difference is to it
        args.rows.insert(0, REFERENCE)
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    scale = SCALES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.repeats:
        scale = dataclasses.replace(scale, repeats=args.repeats)
    seeds = list(range(args.seeds or scale.seeds))
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": {
        "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
        "cores": _cores(), "threads": args.threads, "train_threads": args.train_threads, "scale": scale.name,
        "seeds": seeds,
        "epochs": {k: scale.epochs[k] for k in args.tasks}, "repeats": scale.repeats, "warmup": scale.warmup,
        "hyper": {k: TASKS[k].hyper.kwargs() for k in args.tasks},
        "argv": list(argv) if argv is not None else sys.argv[1:]}}
    try:
        with warnings.catch_warnings():
            # torchao warns once per state class about AOT-autograd caching; nothing to act on here.
            warnings.simplefilter("ignore")
            print(f"torch {torch.__version__}, threads={args.threads} of {_cores()} cores (training: "
                  f"{args.train_threads}), scale={scale.name}, "
                  f"seeds {seeds}")
            if scale.note:
                print(f"  {scale.note}")
            results["rows"] = {}
            for key in args.rows:
                row = ROWS[key]
                why = probe(row, TASKS[args.tasks[0]].hyper)
                results["rows"][key] = {"label": row.label, "library": row.library, "detail": row.detail,
                                        "skipped": why}
                print(f"  {key:<9} {row.detail}" + (f"\n            NOT RUN: {why}" if why else ""))
            runnable = [ROWS[k] for k, v in results["rows"].items() if v["skipped"] is None]

            data = load_data(seed=0)  # the fixed split of every task
            # The task models are tiny: a second thread gains nothing, and on a shared machine its
            # synchronisation made a 1 ms step of bitsandbytes or torchao take 20-90 ms.
            torch.set_num_threads(args.train_threads)
            results["tasks"] = {}
            for key in args.tasks:
                task = TASKS[key]
                epochs = scale.epochs[key]
                print(f"\ntask {key}: {task.detail}; {epochs} epoch(s) of batch {task.batch_size}, lr {task.hyper.lr} "
                      f"(warm-up {task.warmup_steps} steps, cosine), weight decay {task.hyper.weight_decay} ...",
                      flush=True)
                t0 = time.perf_counter()
                results["tasks"][key] = run_task(task, runnable, seeds, data, epochs)
                print(f"  {time.perf_counter() - t0:.1f} s")

            print(f"\nstep time: {scale.timing_layers} layers of {scale.timing_dim}, warm-up {scale.warmup} steps, "
                  f"{scale.repeats} interleaved repeats ...", flush=True)
            torch.set_num_threads(args.threads)
            results["timing"] = bench_steps(runnable, scale, TASKS[args.tasks[0]].hyper)
            slow = [f"{k} {v['first_step_s']:.1f} s" for k, v in results["timing"]["rows"].items()
                    if v.get("first_step_s", 0) > 0.5]
            if slow:
                print("  first step (compiles where the library compiles; not timed): " + ", ".join(slow))
            results["checks"] = {r.key: checks(r.key, results["tasks"], results["timing"])
                                 for r in runnable if r.key != REFERENCE}
            print_main(results)
            print_memory(results)
            print_checks(results)
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
