"""A whole training step under ``torch.compile``: forward, backward, ``optimizer.step()`` and
``scheduler.step()`` in one compiled function, with optimkit optimizers and every built-in
scheduler of both namespaces (from the registry).

What must hold, counted by a backend that records every graph dynamo hands it:

* after the warm-up (the first step creates the state, so the second compiles the steady graph)
  no graph is compiled again, however the learning rate (or the weight decay) moves;
* no graph break inside the optimizer update: the only breaks are the ones torch's own optimizers
  and schedulers cause as well (named in ``EXPECTED_BREAKS``);
* the numbers are the eager ones (float64; the compiled update's scalar arithmetic is float64, as
  the eager one's Python floats are).

The counting backend wraps ``aot_eager``: dynamo decides graphs, guards and breaks, and AOTAutograd
decides which Python numbers are specialised (a moving float hyperparameter recompiles there, as
under inductor), without generating code, which keeps a scheduler to about a second. One case also
goes through inductor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
import torch._dynamo
from torch import nn
from torch._dynamo.utils import counters

import optimkit.optim as ok
from optimkit.registry import scheduler_specs
from optimkit.schedule_plot import sample_arguments

STEPS = 8
WARMUP = 2

# Shorter than the plotting samples, so that every schedule moves within STEPS steps.
SHORT: dict[str, Any] = {"step_size": 2, "milestones": [2, 4, 6], "T_0": 3, "T_max": 10, "total_steps": 12,
                         "total_iters": 6, "patience": 0, "anneal_epochs": 4, "step_size_up": 3}

# Why a graph may break, by the first line of dynamo's reason, and what causes it.
EXPECTED_BREAKS = {
    "Unsupported Tensor.backward() call": "backward() is not traced (compiled autograd is off)",
    "Attempted to call function marked as skipped": "torch.optim.Optimizer.zero_grad is never traced",
    "Skip inlining `torch.compiler.disable()`d function": (
        "the scheduler's step runs eagerly, as torch's does, and the optimizer's step-counting "
        "wrapper is left out of the graph (the step inside it is compiled)"),
}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).double()


def _batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(7)
    while True:
        yield (torch.randn(6, 5, generator=generator, dtype=torch.float64),
               torch.randn(6, 2, generator=generator, dtype=torch.float64))


def _scalar(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64)


def _optimizer(model: nn.Module, name: str) -> torch.optim.Optimizer:
    # A Tensor lr (and weight decay, which the Cerebras WD schedulers move): schedulers fill them
    # in place, so the compiled update keeps its guards.
    # Tensor betas too: OneCycleLR cycles beta1 (in place), where a moving Python float would be
    # specialised on, one graph per value (as with torch's Adam).
    betas = (_scalar(0.9), _scalar(0.999))
    if name == "adamw":
        return ok.AdamW(model.parameters(), lr=_scalar(0.01), betas=betas, weight_decay=_scalar(0.05))
    if name == "sgd":
        return ok.SGD(model.parameters(), lr=_scalar(0.01), momentum=0.9, nesterov=True)
    return ok.Adam(model.parameters(), lr=_scalar(0.01), betas=betas)


def _scheduler(namespace: str, name: str, optimizer: torch.optim.Optimizer) -> Any:
    """The registered scheduler with the plotting samples for its required arguments, shortened."""
    cls = next(s for s in scheduler_specs(namespace) if s.name == name).cls
    if name in ("scaleperparamlr", "scaleperparamwd"):  # wraps another scheduler (no sample for it)
        inner = _scheduler(namespace, "cosinedecay" + name[-2:], optimizer)
        return cls(optimizer, inner)
    arguments = sample_arguments(cls, optimizer)
    assert arguments is not None, f"no sample arguments for {namespace}:{name}"
    accepted = inspect.signature(cls).parameters
    if "schedulers" not in accepted:  # a composite's milestones belong to its children's lengths
        arguments.update({key: value for key, value in SHORT.items() if key in accepted})
    if "optimizer" in accepted:
        arguments["optimizer"] = optimizer
    return cls(**arguments)


def _hyper(optimizer: torch.optim.Optimizer) -> tuple[float, float]:
    group = optimizer.param_groups[0]
    return float(group["lr"]), float(group.get("weight_decay", 0.0))


class CountingBackend:
    """A dynamo backend (``aot_eager`` by default) that counts the graphs it is handed."""

    def __init__(self, inner: str = "aot_eager") -> None:
        self.inner = torch._dynamo.lookup_backend(inner)
        self.graphs = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> Callable[..., Any]:
        self.graphs += 1
        return self.inner(gm, example_inputs)


def _train(namespace: str, name: str, optimizer_name: str, backend: CountingBackend | None) -> dict[str, Any]:
    """STEPS training steps, compiled with ``backend`` (or eager): the parameters, (lr, weight
    decay) before and after every step, and the number of graphs compiled by the end of each."""
    model = _model()
    optimizer = _optimizer(model, optimizer_name)
    scheduler = _scheduler(namespace, name, optimizer)
    plateau = "metrics" in inspect.signature(scheduler.step).parameters

    def train_step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad()
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        optimizer.step()
        if plateau:
            scheduler.step(1.0)  # a flat metric: the plateau rule cuts the lr
        else:
            scheduler.step()
        return loss

    step = train_step if backend is None else torch.compile(train_step, backend=backend)
    batches = _batches()
    hypers, graphs = [_hyper(optimizer)], []
    for _ in range(STEPS):
        step(*next(batches))
        hypers.append(_hyper(optimizer))
        graphs.append(0 if backend is None else backend.graphs)
    return {"params": [p.detach().clone() for p in model.parameters()], "hypers": hypers, "graphs": graphs}


def _compiled(namespace: str, name: str, optimizer_name: str, inner: str = "aot_eager") -> tuple[dict[str, Any], set[str]]:
    """A compiled run from a clean dynamo, and its graph breaks by the first line of their reason."""
    torch._dynamo.reset()
    counters.clear()
    try:
        run = _train(namespace, name, optimizer_name, CountingBackend(inner))
        breaks = {reason.splitlines()[0] for reason in counters["graph_break"]}
    finally:
        torch._dynamo.reset()
    return run, breaks


# Schedules that hold one value by design.
CONSTANT = {"cerebras:constantlr", "cerebras:constantwd"}


def _check(eager: dict[str, Any], compiled: dict[str, Any], breaks: set[str], rtol: float, constant: bool = False) -> None:
    assert constant or len(set(eager["hypers"])) > 1, f"the schedule did not move in {STEPS} steps"
    assert compiled["hypers"] == eager["hypers"]
    graphs = compiled["graphs"]
    assert graphs[-1] == graphs[WARMUP - 1], f"graphs compiled after the warm-up (total after each step: {graphs})"
    assert breaks <= set(EXPECTED_BREAKS), f"unexpected graph breaks: {breaks - set(EXPECTED_BREAKS)}"
    for p, q in zip(compiled["params"], eager["params"]):
        torch.testing.assert_close(p, q, rtol=rtol, atol=rtol)


def _cases() -> list[Any]:
    cases = []
    for namespace in ("optim", "cerebras"):
        for spec in scheduler_specs(namespace):
            wd = namespace == "cerebras" and spec.name.endswith("wd")
            cases.append(pytest.param(namespace, spec.name, "adamw" if wd else "adam", id=f"{namespace}:{spec.name}"))
    return cases


@pytest.mark.parametrize(("namespace", "name", "optimizer_name"), _cases())
def test_compiled_training_step_equals_eager_without_recompiles(namespace: str, name: str, optimizer_name: str) -> None:
    eager = _train(namespace, name, optimizer_name, None)
    compiled, breaks = _compiled(namespace, name, optimizer_name)
    _check(eager, compiled, breaks, rtol=1e-12, constant=f"{namespace}:{name}" in CONSTANT)


# SGD's momentum is a Python float (torch's SGD takes no Tensor momentum): a scheduler cycling it
# (OneCycleLR's default cycle_momentum=True) gives a new value each step, on which compiled code
# specialises: one graph per step, with torch's SGD alike. Adam's betas can be tensors.
@pytest.mark.parametrize(("optimizer_name", "scheduler"), [("adamw", "onecyclelr"), ("sgd", "cosineannealinglr")])
def test_other_optimizers_compile_cleanly(optimizer_name: str, scheduler: str) -> None:
    eager = _train("optim", scheduler, optimizer_name, None)
    compiled, breaks = _compiled("optim", scheduler, optimizer_name)
    _check(eager, compiled, breaks, rtol=1e-12)


def test_inductor_compiled_step_equals_eager() -> None:
    """Generated code: the same numbers up to the rounding of fused arithmetic."""
    eager = _train("optim", "cosineannealinglr", "adamw", None)
    compiled, breaks = _compiled("optim", "cosineannealinglr", "adamw", inner="inductor")
    _check(eager, compiled, breaks, rtol=1e-9)


def test_the_counter_sees_a_recompile() -> None:
    """The guard check above can fail: a scheduler that replaces the Tensor lr with a float at
    step 4 makes dynamo compile the update again."""

    class FloatAfterThree:
        def __init__(self, optimizer: torch.optim.Optimizer) -> None:
            self.optimizer, self.count = optimizer, 0

        def step(self) -> None:
            self.count += 1
            for group in self.optimizer.param_groups:
                group["lr"] = 0.001 * self.count if self.count > 3 else group["lr"]

    model = _model()
    optimizer = _optimizer(model, "adam")
    scheduler = FloatAfterThree(optimizer)
    backend = CountingBackend()
    torch._dynamo.reset()

    @torch.compile(backend=backend)
    def update() -> None:
        optimizer.step()

    graphs = []
    for x, y in zip(range(STEPS), _batches()):
        optimizer.zero_grad()
        (model(y[0]) - y[1]).pow(2).mean().backward()
        update()
        scheduler.step()
        graphs.append(backend.graphs)
    torch._dynamo.reset()
    assert graphs[-1] > graphs[WARMUP - 1]
