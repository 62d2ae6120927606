"""The scheduler half of ``step_bench.py``: ``scheduler.step()`` time against torch's, and the
recompile count of a ``torch.compile``d optimizer step with a Tensor lr under every scheduler.

Imported by ``step_bench.py``; not a script of its own.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from optimkit.registry import scheduler_specs

if TYPE_CHECKING:
    from step_bench import Scale

__all__ = ["SCHEDULER_KWARGS", "CONTROL", "bench_schedulers", "compile_one", "bench_compile"]

# ------------------------------------------------------------------------------------------------
# Schedulers
# ------------------------------------------------------------------------------------------------

SCHEDULER_KWARGS: dict[str, dict[str, Any]] = {
    "StepLR": {"step_size": 30},
    "CosineAnnealingLR": {"T_max": 1000},
    "CyclicLR": {"base_lr": 0.001, "max_lr": 0.1, "step_size_up": 2000},
    "OneCycleLR": {"max_lr": 0.1, "total_steps": 10**8},
}


def _sgd(groups: int, tensor_lr: bool) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(4)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p], "lr": torch.tensor(0.01) if tensor_lr else 0.01} for p in params],
                           lr=0.01, momentum=0.9)


def bench_schedulers(scale: Scale) -> list[dict[str, Any]]:
    import optimkit.optim.lr_scheduler as ok_sched
    import torch.optim.lr_scheduler as torch_sched

    rows = []
    for name, kwargs in SCHEDULER_KWARGS.items():
        for groups in (1, 10):
            for tensor_lr in (False, True):
                schedulers = {}
                for library, module in (("optimkit", ok_sched), ("torch", torch_sched)):
                    opt = _sgd(groups, tensor_lr)
                    opt.step()  # no gradients: only marks the optimizer as stepped
                    schedulers[library] = getattr(module, name)(opt, **kwargs)
                for sched in schedulers.values():
                    sched.step()
                samples: dict[str, list[float]] = {lib: [] for lib in schedulers}
                libs = list(schedulers)
                for r in range(scale.sched_repeats):
                    for lib in libs[r % 2:] + libs[:r % 2]:
                        step = schedulers[lib].step
                        start = time.perf_counter()
                        for _ in range(scale.sched_steps):
                            step()
                        samples[lib].append((time.perf_counter() - start) / scale.sched_steps)
                us = {lib: statistics.median(s) * 1e6 for lib, s in samples.items()}
                rows.append({"scheduler": name, "groups": groups, "lr": "tensor" if tensor_lr else "float",
                             "optimkit_us": us["optimkit"], "torch_us": us["torch"],
                             "ratio": us["optimkit"] / us["torch"],
                             "optimkit_samples_us": [s * 1e6 for s in samples["optimkit"]],
                             "torch_samples_us": [s * 1e6 for s in samples["torch"]]})
    return rows


# ------------------------------------------------------------------------------------------------
# Recompiles
# ------------------------------------------------------------------------------------------------


def _make_scheduler(module: Any, name: str, opt: torch.optim.Optimizer, steps: int) -> Any:
    """A scheduler of ``module`` whose lr moves within ``steps`` steps."""
    m = module
    factories: dict[str, Callable[[], Any]] = {
        "ChainedScheduler": lambda: m.ChainedScheduler([m.StepLR(opt, step_size=3, gamma=0.5),
                                                        m.ExponentialLR(opt, gamma=0.9)]),
        "ConstantLR": lambda: m.ConstantLR(opt, factor=0.5, total_iters=4),
        "CosineAnnealingLR": lambda: m.CosineAnnealingLR(opt, T_max=steps),
        "CosineAnnealingWarmRestarts": lambda: m.CosineAnnealingWarmRestarts(opt, T_0=3),
        "CyclicLR": lambda: m.CyclicLR(opt, base_lr=0.001, max_lr=0.1, step_size_up=4),
        "ExponentialLR": lambda: m.ExponentialLR(opt, gamma=0.9),
        "LambdaLR": lambda: m.LambdaLR(opt, lr_lambda=lambda epoch: 0.9**epoch),
        "LinearLR": lambda: m.LinearLR(opt, start_factor=0.5, total_iters=4),
        "MultiplicativeLR": lambda: m.MultiplicativeLR(opt, lr_lambda=lambda epoch: 0.95),
        "MultiStepLR": lambda: m.MultiStepLR(opt, milestones=[2, 5], gamma=0.5),
        "OneCycleLR": lambda: m.OneCycleLR(opt, max_lr=0.1, total_steps=steps + 10),
        "PolynomialLR": lambda: m.PolynomialLR(opt, total_iters=steps + 2, power=2.0),
        "ReduceLROnPlateau": lambda: m.ReduceLROnPlateau(opt, factor=0.5, patience=0),
        "SequentialLR": lambda: m.SequentialLR(opt, [m.ConstantLR(opt, factor=0.5, total_iters=2),
                                                     m.ExponentialLR(opt, gamma=0.9)], milestones=[3]),
        "StepLR": lambda: m.StepLR(opt, step_size=3, gamma=0.5),
        CONTROL: lambda: _FloatLrControl(opt),
    }
    return factories[name]()


#: A row that must recompile, to show that the counter sees recompiles.
CONTROL = "control: Tensor lr -> float"


class _FloatLrControl:
    """Fills the Tensor lr in place during the warm-up steps, then replaces it by a Python float
    (what a scheduler must not do under compile): one recompile expected."""

    def __init__(self, opt: torch.optim.Optimizer) -> None:
        self.opt = opt
        self.n = 0

    def step(self) -> None:
        self.n += 1
        for group in self.opt.param_groups:
            if self.n < 2:
                group["lr"].fill_(0.01 * 0.9**self.n)
            else:
                group["lr"] = 0.01 * 0.9**self.n


def _lr_of(opt: torch.optim.Optimizer) -> float:
    lr = opt.param_groups[0]["lr"]
    return float(lr.item() if isinstance(lr, Tensor) else lr)


def compile_one(module: Any, name: str, steps: int, backend_name: str) -> dict[str, Any]:
    """Compile ``opt.step`` of an optimkit Adam with a Tensor lr, step it ``steps`` times under
    scheduler ``name`` of ``module``; graphs compiled after the first two steps are recompiles
    (the first step creates the state, the second compiles the steady-state graph)."""
    import torch._dynamo
    import torch._dynamo.utils

    import optimkit.optim as ok

    torch._dynamo.reset()
    graphs: list[float] = []
    inner = torch._dynamo.lookup_backend(backend_name)

    def counting_backend(gm: torch.fx.GraphModule, example_inputs: list[Tensor]) -> Any:
        graphs.append(time.perf_counter())
        return inner(gm, example_inputs)

    params = [torch.nn.Parameter(torch.randn(64, 32)), torch.nn.Parameter(torch.randn(32))]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    opt = ok.Adam(params, lr=torch.tensor(0.01))
    try:
        sched = _make_scheduler(module, name, opt, steps)
    except Exception as error:  # noqa: BLE001
        return {"error": f"{type(error).__name__}: {error}"}
    step = torch.compile(opt.step, backend=counting_backend)
    lrs = [_lr_of(opt)]
    per_step: list[dict[str, Any]] = []
    compile_s = 0.0
    reasons: list[str] = []
    failures_at_warm: dict[Any, int] = {}
    limit_key = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    with torch._dynamo.config.patch(**{limit_key: steps + 8}):
        for i in range(steps):
            before = len(graphs)
            start = time.perf_counter()
            try:
                step()
            except Exception as error:  # noqa: BLE001
                return {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}", "graphs": len(graphs)}
            elapsed = time.perf_counter() - start
            new = len(graphs) - before
            if new:
                compile_s += elapsed
            per_step.append({"graphs": new, "s": elapsed})
            if name == "ReduceLROnPlateau":
                sched.step(1.0)
            else:
                sched.step()
            lrs.append(_lr_of(opt))
            if i == 1:
                failures_at_warm = {code: len(v) for code, v in torch._dynamo.utils.guard_failures.items()}
        for code, failures in torch._dynamo.utils.guard_failures.items():
            reasons += [str(f).splitlines()[0][:160] for f in failures[failures_at_warm.get(code, 0):]]
    warm_graphs = sum(s["graphs"] for s in per_step[:2])
    recompiles = sum(s["graphs"] for s in per_step[2:])
    torch._dynamo.reset()
    return {"graphs": len(graphs), "warmup_graphs": warm_graphs, "recompiles": recompiles,
            "recompile_steps": [i for i, s in enumerate(per_step) if s["graphs"] and i >= 2],
            "compile_s": compile_s, "first_step_s": per_step[0]["s"],
            "lr_moved": len({round(x, 12) for x in lrs}) > 1, "first_reason": reasons[0] if reasons else None}


def bench_compile(scale: Scale, backend_name: str) -> dict[str, Any]:
    import optimkit.optim.lr_scheduler as ok_sched
    import torch.optim.lr_scheduler as torch_sched

    names = [s.torch_name for s in scheduler_specs()
             if s.torch_name and s.cls.__module__.startswith("optimkit.optim.lr_scheduler")]
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
    logging.getLogger("torch._logging").setLevel(logging.ERROR)
    rows = []
    for name in names:
        row: dict[str, Any] = {"scheduler": name}
        row["optimkit"] = compile_one(ok_sched, name, scale.compile_steps, backend_name)
        row["torch"] = (compile_one(torch_sched, name, scale.compile_steps, backend_name)
                        if hasattr(torch_sched, name) else {"error": "not in torch"})
        rows.append(row)
    rows.append({"scheduler": CONTROL, "optimkit": compile_one(None, CONTROL, scale.compile_steps, backend_name),
                 "torch": {"error": "n/a"}})
    return {"backend": backend_name, "steps": scale.compile_steps, "rows": rows}
