"""The machinery of tests/integration/test_resume.py: models, batches, the training loop, the
optimizer configurations and scheduler factories, and a bitwise comparison of checkpoints.

Everything is deterministic: a model is built from a seed, batch ``t`` from a generator seeded
with ``t``, so a run resumed at step ``k`` sees exactly the batches ``k, k+1, ...`` that the
uninterrupted run saw. float32 (torch's default dtype), compared bit for bit.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optimkit import schedules
from optimkit.cerebras.optim import lr_scheduler as cerebras_sched
from optimkit.cerebras.optim.scheduler_config import configure_lr_scheduler
from optimkit.optim import lr_scheduler as ok_sched
from optimkit.registry import OptimizerSpec
from tests._db import DB, DBEntry

#: Steps of every run.
STEPS = 12
BATCH = 8
IN, HIDDEN, OUT = 4, 6, 3
VOCAB, EMBED = 10, 3

Optimizer = torch.optim.Optimizer


# ------------------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Problem:
    """How an optimizer is trained: the model kind, and how ``step`` is called."""

    sparse: bool = False  # embeddings with sparse gradients (SparseAdam)
    matrices_only: bool = False  # 2-D parameters only (Muon): linear layers without bias
    closure: bool = False  # step(closure) (LBFGS)

    @classmethod
    def of(cls, spec: OptimizerSpec, db: Mapping[str, DBEntry] = DB) -> Problem:
        """The problem an optimizer needs, from the test database (tests/optim_db) when it has an
        entry, else a dense MLP with ``step()``."""
        entry = db.get(spec.name)
        if entry is None:
            return cls()
        inputs = entry.inputs
        return cls(
            sparse=inputs.sparse_grads,
            matrices_only=all(len(shape) == 2 for shape in inputs.shapes),
            closure=inputs.needs_closure,
        )

    def model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        if self.sparse:
            return nn.ModuleList([nn.Embedding(VOCAB, EMBED, sparse=True), nn.Embedding(VOCAB, EMBED, sparse=True)])
        bias = not self.matrices_only
        return nn.Sequential(nn.Linear(IN, HIDDEN, bias=bias), nn.Tanh(), nn.Linear(HIDDEN, OUT, bias=bias))

    def groups(self, model: nn.Module, second: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """Two parameter groups (first layer, last layer; the second with ``second``'s options),
        one when the optimizer takes a single group (``second is None``)."""
        first, last = (model[0], model[1]) if self.sparse else (model[0], model[2])
        if second is None:
            return [{"params": list(model.parameters())}]
        return [{"params": list(first.parameters())}, {"params": list(last.parameters()), **second}]

    def batch(self, step: int) -> tuple[torch.Tensor, ...]:
        generator = torch.Generator().manual_seed(1000 + step)
        if self.sparse:
            return (torch.randint(VOCAB, (BATCH,), generator=generator),
                    torch.randint(VOCAB, (BATCH,), generator=generator),
                    torch.randn(BATCH, EMBED, generator=generator))
        return torch.randn(BATCH, IN, generator=generator), torch.randn(BATCH, OUT, generator=generator)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.sparse:
            i, j, y = batch
            return nn.functional.mse_loss(model[0](i) * model[1](j), y)
        x, y = batch
        return nn.functional.mse_loss(model(x), y)


# ------------------------------------------------------------------------------ configurations
def _signature_default(cls: type, name: str) -> Any:
    parameter = inspect.signature(cls).parameters.get(name)
    return None if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def takes(cls: type, name: str) -> bool:
    return name in inspect.signature(cls).parameters


def _has_tensor(config: Mapping[str, Any]) -> bool:
    return any(isinstance(v, torch.Tensor) for v in config.values())


def config_for(spec: OptimizerSpec, db: Mapping[str, DBEntry] = DB) -> dict[str, Any]:
    """The configuration a resume case trains with: of the test database's configurations (no
    tensor hyperparameters), the one with the most state to get right: a non-zero momentum where
    the optimizer has one, a non-zero weight decay, then the most options; the first of equals."""
    entry = db.get(spec.name)
    configs = [c for c in (entry.inputs.configs if entry else [{}])
               if not _has_tensor(c) and c.get("lr", 0) is not None] or [{}]

    def score(config: Mapping[str, Any]) -> int:
        effective = lambda key: config.get(key, _signature_default(spec.cls, key)) or 0  # noqa: E731
        return (10 * (spec.has_momentum and effective("momentum") > 0)
                + 5 * (effective("weight_decay") > 0) + len(config))

    return dict(max(configs, key=score))  # max keeps the first of equal scores


def second_group_for(spec: OptimizerSpec, db: Mapping[str, DBEntry] = DB) -> dict[str, Any] | None:
    entry = db.get(spec.name)
    if entry is None:
        return {"lr": base_lr(spec, {}) / 2}
    return None if entry.inputs.second_group is None else dict(entry.inputs.second_group)


def base_lr(spec: OptimizerSpec, config: Mapping[str, Any]) -> float:
    return float(config.get("lr", _signature_default(spec.cls, "lr") or 1e-3))


# ---------------------------------------------------------------------------------- schedulers
@dataclass(frozen=True)
class SchedulerCase:
    """A scheduler of the matrix: ``make(optimizer, lr)`` builds it (``lr``: the configuration's
    base learning rate); ``applies(spec)`` says which optimizers it pairs with; ``key`` is the
    hyperparameter it drives; ``moves`` those checked to move during a run (default: ``key``);
    ``metric``: stepped with ``step(loss)``."""

    name: str
    make: Callable[[Optimizer, float], Any]
    applies: Callable[[OptimizerSpec], bool] = lambda spec: True
    key: str = "lr"
    metric: bool = False
    moves: tuple[str, ...] = ()
    config: Callable[[OptimizerSpec, dict[str, Any]], dict[str, Any]] = lambda spec, config: config


def _with_weight_decay(spec: OptimizerSpec, config: dict[str, Any]) -> dict[str, Any]:
    """A relative weight-decay schedule needs a non-zero weight decay to move."""
    if not (config.get("weight_decay", _signature_default(spec.cls, "weight_decay")) or 0) > 0:
        config = {**config, "weight_decay": 0.05}
    return config


def _with_momentum(spec: OptimizerSpec, config: dict[str, Any]) -> dict[str, Any]:
    """Momentum cycling of a ``momentum`` optimizer needs its momentum buffers: momentum > 0."""
    if spec.has_momentum and not (config.get("momentum", _signature_default(spec.cls, "momentum")) or 0) > 0:
        config = {**config, "momentum": 0.9}
    return config


def _sequential(opt: Optimizer, lr: float) -> Any:
    warmup = ok_sched.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=3)
    cosine = ok_sched.CosineAnnealingLR(opt, T_max=STEPS - 3, eta_min=lr / 20)
    return ok_sched.SequentialLR(opt, [warmup, cosine], milestones=[3])


def _cerebras_list(opt: Optimizer, lr: float) -> Any:
    """A Cerebras list schedule (a config's ``learning_rate`` list: a SequentialLR of a linear
    warmup and a cosine decay); Cerebras schedules are absolute, so scaled to the optimizer's lr."""
    return configure_lr_scheduler(opt, [
        {"scheduler": "Linear", "initial_learning_rate": lr / 10, "end_learning_rate": lr, "total_iters": 4},
        {"scheduler": "CosineDecay", "initial_learning_rate": lr, "end_learning_rate": lr / 10, "total_iters": STEPS - 6},
    ])


SCHEDULERS: dict[str, SchedulerCase] = {case.name: case for case in [
    SchedulerCase(
        "onecycle_momentum",
        lambda opt, lr: ok_sched.OneCycleLR(opt, max_lr=lr, total_steps=STEPS, pct_start=0.3, cycle_momentum=True,
                                            base_momentum=0.8, max_momentum=0.9),
        applies=lambda spec: spec.has_betas or spec.has_momentum,
        config=_with_momentum,
        moves=("lr", "cycled"),
    ),
    SchedulerCase("linear_then_cosine", _sequential),
    SchedulerCase(
        "plateau",
        lambda opt, lr: ok_sched.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, threshold=0.2),
        metric=True,
    ),
    SchedulerCase("cerebras_list", _cerebras_list),
    SchedulerCase(
        "weight_decay_param",
        lambda opt, lr: ok_sched.ParamScheduler(opt, schedules.linear(1.0, 0.1, total_steps=STEPS), key="weight_decay"),
        applies=lambda spec: takes(spec.cls, "weight_decay"),
        key="weight_decay",
        config=_with_weight_decay,
    ),
]}


# --------------------------------------------------------------------------------- the runs
#: The group entries recorded at every step.
SCHEDULED = ("lr", "momentum", "betas", "weight_decay")


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    return float(value)  # a Python float or a one-element tensor


@dataclass
class Run:
    """One training run's objects and what it recorded (per step: loss, scheduled values)."""

    problem: Problem
    model: nn.Module
    optimizer: Optimizer
    scheduler: Any
    metric: bool
    losses: list[float] = field(default_factory=list)
    # Per step, per group: the hyperparameters a scheduler may drive (lr, momentum, betas,
    # weight_decay: those the group has), as plain floats.
    values: list[list[dict[str, Any]]] = field(default_factory=list)

    def train(self, start: int, stop: int, checkpoints: Mapping[int, Path] = {}) -> None:  # noqa: B006
        """Steps ``start .. stop-1`` (batch ``t`` at step ``t``); at a step in ``checkpoints``
        (before it runs) the state is saved there."""
        for t in range(start, stop):
            if t in checkpoints:
                self.save(checkpoints[t])
            batch = self.problem.batch(t)

            def closure() -> torch.Tensor:
                self.optimizer.zero_grad()
                loss = self.problem.loss(self.model, batch)
                loss.backward()
                return loss

            if self.problem.closure:
                loss = self.optimizer.step(closure)
            else:
                loss = closure()
                self.optimizer.step()
            if self.metric:
                self.scheduler.step(loss.item())
            else:
                self.scheduler.step()
            self.losses.append(loss.item())
            self.values.append([{key: _plain(g[key]) for key in SCHEDULED if key in g}
                                for g in self.optimizer.param_groups])
        if stop in checkpoints:
            self.save(checkpoints[stop])

    def checkpoint(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict()}

    def save(self, path: Path) -> None:
        torch.save(self.checkpoint(), path)

    def load(self, path: Path, *, scheduler: bool = True) -> None:
        state = torch.load(path, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if scheduler:
            self.scheduler.load_state_dict(state["scheduler"])


# ---------------------------------------------------------------------------- comparison
def _bits(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    if t.layout != torch.strided:
        t = t.coalesce().to_dense() if t.is_sparse else t.to_dense()
    return t.contiguous().reshape(-1).view(torch.uint8)


def assert_identical(got: Any, want: Any, where: str = "") -> None:
    """``got`` and ``want`` bit for bit: tensors of the same dtype, shape and bytes (torch.equal,
    and -0.0 is not 0.0), floats of the same bits, containers recursively of the same type (dicts: the same keys, in any order)."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor), f"{where}: {type(got).__name__} instead of a tensor"
        assert got.dtype == want.dtype and got.shape == want.shape, (
            f"{where}: {got.dtype}{list(got.shape)} instead of {want.dtype}{list(want.shape)}")
        if not (torch.equal(got, want) and torch.equal(_bits(got), _bits(want))):
            diff = (got.double() - want.double()).abs().max().item() if got.is_floating_point() else "n/a"
            raise AssertionError(f"{where}: tensors differ (max abs diff {diff})")
        return
    assert type(got) is type(want), f"{where}: {type(got).__name__} {got!r} instead of {type(want).__name__} {want!r}"
    if isinstance(want, Mapping):
        # The order of a dict's keys is no part of its state (torch's and optimkit's may differ).
        assert set(got) == set(want), f"{where}: keys {sorted(got, key=str)} instead of {sorted(want, key=str)}"
        for key in want:
            assert_identical(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), f"{where}: length {len(got)} instead of {len(want)}"
        for i, (a, b) in enumerate(zip(got, want)):
            assert_identical(a, b, f"{where}[{i}]")
    elif isinstance(want, float):
        same = (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) == math.copysign(1, want))
        assert same, f"{where}: {got!r} instead of {want!r}"
    else:
        assert got == want, f"{where}: {got!r} instead of {want!r}"


def assert_same_run(got: Run, want: Run, start: int, extensions: Mapping[str, Any] = {}) -> None:  # noqa: B006
    """The resumed run ``got`` (from step ``start``) ends where the uninterrupted ``want`` does:
    parameters, optimizer and scheduler state, and every loss and value after ``start``.

    ``extensions``: scheduler state that only ``got`` has (an optimkit option that torch's class
    lacks, when ``want`` is torch's), with the value that behaves as torch does; it must be there
    with that value, and is then left out of the comparison."""
    assert_identical(got.values, want.values[start:], "scheduled values after the resume point")
    assert_identical(got.losses, want.losses[start:], "losses after the resume point")
    for (name, a), (_, b) in zip(got.model.named_parameters(), want.model.named_parameters(), strict=True):
        assert_identical(a, b, f"parameter {name}")
    assert_identical(got.optimizer.state_dict(), want.optimizer.state_dict(), "optimizer.state_dict()")
    got_state, want_state = dict(got.scheduler.state_dict()), want.scheduler.state_dict()
    for key, value in extensions.items():
        if key not in want_state:
            assert_identical(got_state.pop(key, "<missing>"), value, f"scheduler.state_dict()[{key!r}] (optimkit's own)")
    assert_identical(got_state, want_state, "scheduler.state_dict()")


def distinct(values: Sequence[Sequence[Mapping[str, Any]]], key: str = "lr") -> int:
    """How many different values ``key`` took over a run (all groups together); ``"cycled"``:
    ``momentum`` where the groups have it, else ``betas``."""
    if key == "cycled":
        key = "momentum" if "momentum" in values[0][0] else "betas"
    return len({tuple(group[key] for group in step) for step in values})


#: The schedulers of the Cerebras optimizers' matrix (Cerebras' own schedulers, absolute): the
#: list schedule above and a weight-decay twin.
CEREBRAS_SCHEDULERS: dict[str, SchedulerCase] = {case.name: case for case in [
    SCHEDULERS["cerebras_list"],
    SchedulerCase(
        "cerebras_cosine_wd",
        lambda opt, lr: cerebras_sched.CosineDecayWD(opt, initial_val=0.1, end_val=0.01, total_iters=STEPS),
        applies=lambda spec: takes(spec.cls, "weight_decay"),
        key="weight_decay",
    ),
]}
