"""Optimizer step time of optimkit against torch.optim, as ratios.

For every registered optimizer that has a torch counterpart, and every executor it offers on the
chosen device (loop, foreach, fused), time ``step()`` of optimkit and of torch.optim on the same
parameters and print ``optimkit / torch`` (below 1.0 means optimkit is faster).

    python benchmarks/step_time.py                    # CPU, every optimizer
    python benchmarks/step_time.py --device cuda      # on a GPU
    python benchmarks/step_time.py --pattern 'adam*' --steps 50
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
from collections.abc import Callable

import torch

from optimkit.registry import OptimizerSpec, list_optimizers, get_optimizer

# Optimizers whose step cannot run on a plain dense gradient without a closure.
SKIP = {"lbfgs": "needs a closure", "sparseadam": "needs sparse gradients"}
EXECUTOR_FLAGS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def make_params(device: str, dtype: torch.dtype, layers: int, width: int) -> list[torch.Tensor]:
    """Matrices like a stack of square linear layers (2-D only, so every optimizer accepts them)."""
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(width, width, generator=generator, dtype=dtype).to(device).requires_grad_() for _ in range(layers)]


def time_steps(factory: Callable[..., torch.optim.Optimizer], params: list[torch.Tensor], flags: dict[str, bool],
               steps: int, repeats: int, device: str) -> float:
    """Median seconds per step over ``repeats`` runs of ``steps`` steps (after warm-up)."""
    accepted = inspect.signature(factory).parameters
    # An optimizer without a `foreach` flag (Muon, SparseAdam) has only its loop.
    opt = factory(params, **{k: v for k, v in flags.items() if k in accepted})
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    for _ in range(3):
        opt.step()
    samples = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) / steps)
    return statistics.median(samples)


def executors(spec: OptimizerSpec) -> list[str]:
    names = ["loop"]
    if spec.supports_foreach:
        names.append("foreach")
    if spec.supports_fused:
        names.append("fused")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--pattern", default="*")
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print(f"device={args.device} torch={torch.__version__} params={args.layers}x{args.width}x{args.width} "
          f"steps={args.steps} repeats={args.repeats}")
    print(f"{'optimizer':<12} {'executor':<8} {'optimkit ms':>12} {'torch ms':>10} {'ratio':>7}")
    ratios = []
    for name in list_optimizers(args.pattern):
        spec = get_optimizer(name)
        if spec.torch_name is None or name in SKIP:
            continue
        theirs_cls = getattr(torch.optim, spec.torch_name)
        for executor in executors(spec):
            flags = EXECUTOR_FLAGS[executor]
            try:
                ours = time_steps(spec.cls, make_params(args.device, torch.float32, args.layers, args.width), flags,
                                  args.steps, args.repeats, args.device)
                theirs = time_steps(theirs_cls, make_params(args.device, torch.float32, args.layers, args.width), flags,
                                    args.steps, args.repeats, args.device)
            except (RuntimeError, ValueError) as error:  # e.g. a fused kernel missing for this device
                print(f"{name:<12} {executor:<8} skipped: {str(error).splitlines()[0]}")
                continue
            ratios.append(ours / theirs)
            print(f"{name:<12} {executor:<8} {ours * 1e3:>12.3f} {theirs * 1e3:>10.3f} {ours / theirs:>7.2f}")
    if ratios:
        print(f"geometric mean ratio (optimkit / torch): {statistics.geometric_mean(ratios):.2f} over {len(ratios)} cases")


if __name__ == "__main__":
    main()
