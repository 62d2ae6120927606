"""Exact resume: a run checkpointed at step k and resumed in fresh objects ends bit for bit where
the uninterrupted run ends.

Each case trains a small seeded float32 model on deterministic batches (batch ``t`` from a
generator seeded with ``t``) for ``STEPS = 12`` steps of ``optimizer.step()`` +
``scheduler.step()``. Before step ``k`` the uninterrupted run writes ``torch.save({"model": ...,
"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)``; a fresh model (another
seed), optimizer and scheduler are built, loaded with ``torch.load(path, weights_only=True)`` and
trained from ``k`` to ``STEPS``. The parameters, ``optimizer.state_dict()`` (every tensor, bytes
compared), ``scheduler.state_dict()``, and every loss and every group's lr, momentum, betas and
weight decay after ``k`` must be identical (:func:`~tests.integration._resume_cases.assert_same_run`).

**Matrix** (:data:`MATRIX`, ids in :data:`CASE_IDS`, ``<optimizer>-<scheduler>-k<k>+...``): every
optimizer of the registry's ``"optim"`` namespace (``optimizer_specs("optim")``, so a new one is
picked up) crossed with every scheduler below that applies to it, the whole applicable product;
each pair resumed at ``RESUME_POINTS = 3`` points drawn from ``random.Random(SEED)``. At the time
of writing: 18 optimizers x 5 schedulers = 81 applicable pairs (81 test cases) x 3 resume points
= 243 resumes. The schedulers (:data:`~tests.integration._resume_cases.SCHEDULERS`):

* ``onecycle_momentum``: OneCycleLR(cycle_momentum=True), cycling ``betas[0]`` or ``momentum``, for
  the 12 optimizers whose registry spec has betas or momentum (momentum 0.9 where the
  configuration has none);
* ``linear_then_cosine``: SequentialLR of a LinearLR warmup and CosineAnnealingLR (18);
* ``plateau``: ReduceLROnPlateau, stepped with the step's loss (18);
* ``cerebras_list``: a Cerebras list schedule, ``configure_lr_scheduler(opt, [Linear, CosineDecay])``,
  which is an ``optimkit.cerebras.optim.lr_scheduler.SequentialLR`` (18);
* ``weight_decay_param``: ``optimkit.optim.lr_scheduler.ParamScheduler(key="weight_decay")`` (the
  15 optimizers that take ``weight_decay``; LBFGS, Rprop and SparseAdam take none).

LBFGS is stepped with a closure; SparseAdam trains two sparse embeddings (sparse gradients); Muon
bias-free linear layers (2-D parameters only). The configurations come from the test database
(tests/optim_db, :func:`~tests.integration._resume_cases.config_for`), run with the default
executor, with two parameter groups where the optimizer takes them. Every case also checks that
its schedule moves its hyperparameter during the run (OneCycleLR: the lr and the cycled momentum).

**Cerebras optimizers** (:data:`CEREBRAS_MATRIX`): the 14 of ``optimizer_specs("cerebras")`` x
``cerebras_list`` and a CosineDecayWD (13 take weight decay) = 27 cases, one resume point each.

**torch <-> optimkit** (:data:`CROSS`, 60 cases): a checkpoint of torch.optim (optimizer + scheduler)
is loaded into optimkit's classes and continued, and must end bit for bit where the uninterrupted
torch run ends; and the other way round. Adam, AdamW, SGD (momentum), RMSprop (momentum),
Adagrad x StepLR, OneCycleLR, CosineAnnealingWarmRestarts, ReduceLROnPlateau x both directions
(40), and every other optimizer with a torch counterpart with one of those schedulers x both
directions (20), one resume point each. All with ``foreach=False`` on both sides where the class
takes it: the per-tensor loop, identical by design. The defaults are not: optimkit's default for
Adam, AdamW, SGD and Adagrad is torch's fused CPU kernel (README, "Default"), torch's default on
the CPU its for-loop, and the two differ in the last bits (up to about 1e-8 after 12 steps).

The tests can fail: :func:`test_comparison_detects_a_bad_resume` checks that a dropped scheduler
state, a dropped optimizer state and an off-by-one resume step are each caught,
:func:`test_every_dropped_scheduler_state_is_detected` a dropped state of each scheduler, and
:func:`test_bitwise_comparison` that one ulp, -0.0, a dtype or a container type is.
The README's "Checkpoints: save and resume exactly" example runs in tests/test_readme.py.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from optimkit.optim import lr_scheduler as ok_sched
from optimkit.registry import OptimizerSpec, optimizer_specs
from tests._db import entries
from tests.integration._resume_cases import (
    CEREBRAS_SCHEDULERS,
    SCHEDULERS,
    STEPS,
    Problem,
    Run,
    SchedulerCase,
    assert_identical,
    assert_same_run,
    base_lr,
    config_for,
    distinct,
    second_group_for,
    takes,
)

SEED = 20240613
RESUME_POINTS = 3

pytestmark = pytest.mark.skipif(torch.get_default_dtype() != torch.float32, reason="bitwise checks assume float32")


# ---------------------------------------------------------------------------------- matrix
def _matrix() -> list[tuple[OptimizerSpec, SchedulerCase, tuple[int, ...]]]:
    rng = random.Random(SEED)
    matrix = []
    for spec in optimizer_specs("optim"):
        for case in SCHEDULERS.values():
            if case.applies(spec):
                points = tuple(sorted(rng.sample(range(1, STEPS), RESUME_POINTS)))
                matrix.append((spec, case, points))
    return matrix


MATRIX = _matrix()


def _id(spec: OptimizerSpec, case: SchedulerCase, points: tuple[int, ...]) -> str:
    return f"{spec.name}-{case.name}-" + "+".join(f"k{k}" for k in points)


#: The ids of the matrix's test cases.
CASE_IDS = [_id(*row) for row in MATRIX]


def _build(spec: OptimizerSpec, case: SchedulerCase, seed: int, namespace: str = "optim") -> Run:
    db = entries(namespace)
    problem = Problem.of(spec, db)
    config = case.config(spec, config_for(spec, db))
    model = problem.model(seed)
    optimizer = spec.cls(problem.groups(model, second_group_for(spec, db)), **config)
    scheduler = case.make(optimizer, base_lr(spec, config))
    return Run(problem, model, optimizer, scheduler, metric=case.metric)


def test_matrix_covers_the_registry() -> None:
    """Every optimizer meets at least one scheduler, every scheduler several optimizers, and the
    ids are unique."""
    names = [spec.name for spec in optimizer_specs("optim")]
    assert sorted({spec.name for spec, _, _ in MATRIX}) == sorted(names)
    for case in SCHEDULERS.values():
        assert sum(c is case for _, c, _ in MATRIX) >= 3, case.name
    assert len(CASE_IDS) == len(set(CASE_IDS))
    assert all(len(points) == RESUME_POINTS and 0 < min(points) and max(points) < STEPS for *_, points in MATRIX)


def _resume_and_compare(spec: OptimizerSpec, case: SchedulerCase, points: tuple[int, ...], tmp_path: Path,
                        namespace: str = "optim") -> None:
    full = _build(spec, case, seed=0, namespace=namespace)
    paths = {k: tmp_path / f"step{k}.pt" for k in points}
    full.train(0, STEPS, checkpoints=paths)
    # The schedule must move, else resuming it proves little.
    for key in case.moves or (case.key,):
        assert distinct(full.values, key) > 1, f"{case.name} left {key} at {full.values[0]}"
    for k in points:
        resumed = _build(spec, case, seed=1, namespace=namespace)  # other initial weights: the checkpoint sets them
        resumed.load(paths[k])
        resumed.train(k, STEPS)
        assert_same_run(resumed, full, k)


@pytest.mark.parametrize(("spec", "case", "points"), MATRIX, ids=CASE_IDS)
def test_resume_is_exact(spec: OptimizerSpec, case: SchedulerCase, points: tuple[int, ...], tmp_path: Path) -> None:
    _resume_and_compare(spec, case, points, tmp_path)


def _cerebras_matrix() -> list[tuple[OptimizerSpec, SchedulerCase, tuple[int, ...]]]:
    rng = random.Random(SEED + 2)
    return [(spec, case, (rng.randrange(1, STEPS),))
            for spec in optimizer_specs("cerebras") for case in CEREBRAS_SCHEDULERS.values() if case.applies(spec)]


#: The Cerebras optimizers (``optimizer_specs("cerebras")``) with Cerebras' schedulers.
CEREBRAS_MATRIX = _cerebras_matrix()
CEREBRAS_CASE_IDS = [_id(*row) for row in CEREBRAS_MATRIX]


@pytest.mark.parametrize(("spec", "case", "points"), CEREBRAS_MATRIX, ids=CEREBRAS_CASE_IDS)
def test_cerebras_resume_is_exact(spec: OptimizerSpec, case: SchedulerCase, points: tuple[int, ...],
                                  tmp_path: Path) -> None:
    _resume_and_compare(spec, case, points, tmp_path, namespace="cerebras")


# --------------------------------------------------------------------------- can it fail?
def test_comparison_detects_a_bad_resume(tmp_path: Path) -> None:
    """The comparison catches a resume that forgets the scheduler state or the optimizer state,
    or continues from the wrong step (each alone), and passes the correct one."""
    spec = next(s for s in optimizer_specs("optim") if s.name == "adamw")
    case = SCHEDULERS["linear_then_cosine"]
    k = 5
    full = _build(spec, case, seed=0)
    full.train(0, STEPS, checkpoints={k: tmp_path / "ckpt.pt", k + 1: tmp_path / "next.pt"})

    def resume(path: str, start: int, **load: bool) -> Run:
        run = _build(spec, case, seed=1)
        state = torch.load(tmp_path / path, weights_only=True)
        run.model.load_state_dict(state["model"])
        if load.get("optimizer", True):
            run.optimizer.load_state_dict(state["optimizer"])
        if load.get("scheduler", True):
            run.scheduler.load_state_dict(state["scheduler"])
        run.train(start, STEPS)
        return run

    assert_same_run(resume("ckpt.pt", k), full, k)
    with pytest.raises(AssertionError, match="scheduled values"):
        assert_same_run(resume("ckpt.pt", k, scheduler=False), full, k)
    with pytest.raises(AssertionError):
        assert_same_run(resume("ckpt.pt", k, optimizer=False), full, k)
    with pytest.raises(AssertionError):  # the checkpoint of step k, continued as if from k + 1
        assert_same_run(resume("ckpt.pt", k + 1), full, k + 1)
    with pytest.raises(AssertionError):  # the checkpoint of step k + 1, continued from k
        assert_same_run(resume("next.pt", k), full, k)


@pytest.mark.parametrize("case", SCHEDULERS.values(), ids=SCHEDULERS)
def test_every_dropped_scheduler_state_is_detected(case: SchedulerCase, tmp_path: Path) -> None:
    """For each scheduler of the matrix, a resume that loads the model and optimizer but not the
    scheduler fails the comparison (so the scheduler's state is really being checked)."""
    spec = next(s for s in optimizer_specs("optim") if s.name == "adamw")
    k = 4
    full = _build(spec, case, seed=0)
    full.train(0, STEPS, checkpoints={k: tmp_path / "ckpt.pt"})
    resumed = _build(spec, case, seed=1)
    resumed.load(tmp_path / "ckpt.pt", scheduler=False)
    resumed.train(k, STEPS)
    with pytest.raises(AssertionError):
        assert_same_run(resumed, full, k)


def test_bitwise_comparison() -> None:
    assert_identical({"a": [torch.tensor([1.0, 2.0]), 0.5]}, {"a": [torch.tensor([1.0, 2.0]), 0.5]})
    for got, want in [
        (torch.tensor([1.0, 2.0 + 2**-22]), torch.tensor([1.0, 2.0])),  # one ulp
        (torch.tensor([-0.0]), torch.tensor([0.0])),
        (torch.tensor([1.0], dtype=torch.float64), torch.tensor([1.0])),
        (0.1 + 0.2, 0.3),
        ((0.9, 0.999), [0.9, 0.999]),
        ({"a": 1, "b": 2}, {"a": 1}),
    ]:
        with pytest.raises(AssertionError):
            assert_identical(got, want)


# ------------------------------------------------------------------------ torch <-> optimkit
#: The optimizers crossed with every scheduler of CROSS_SCHEDULERS, in these configurations (the
#: others with a torch counterpart meet one scheduler each, in config_for's configuration).
CROSS_CONFIGS: dict[str, dict[str, Any]] = {
    "adam": {"lr": 0.01, "weight_decay": 0.01, "amsgrad": True},
    "adamw": {"lr": 0.01, "weight_decay": 0.1},
    "sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "rmsprop": {"lr": 0.005, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
    "adagrad": {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
}
CROSS_SCHEDULERS = ["steplr", "onecyclelr", "warmrestarts", "plateau"]

#: Scheduler state of optimkit's own options, which torch's classes lack, at the values that
#: behave as torch does: OneCycleLR's keyword-only ``hold_final_lr`` (False: past ``total_steps``
#: torch's error). An optimkit scheduler loaded from torch's state keeps its own value.
OPTIMKIT_EXTENSIONS: dict[str, dict[str, Any]] = {"onecyclelr": {"hold_final_lr": False}}


def _cross_scheduler(name: str, spec: OptimizerSpec, lr: float) -> tuple[str, dict[str, Any], bool]:
    """(class name, arguments, stepped with a metric); OneCycleLR cycles the momentum (or
    ``betas[0]``) of the optimizers that have one."""
    return {
        "steplr": ("StepLR", {"step_size": 3, "gamma": 0.5}, False),
        "onecyclelr": ("OneCycleLR", {"max_lr": lr, "total_steps": STEPS,
                                      "cycle_momentum": spec.has_betas or spec.has_momentum}, False),
        "warmrestarts": ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": lr / 100}, False),
        "plateau": ("ReduceLROnPlateau", {"factor": 0.5, "patience": 1, "threshold": 0.2}, True),
    }[name]


def _torch_class(spec: OptimizerSpec) -> type | None:
    return getattr(torch.optim, spec.torch_name, None) if spec.torch_name else None


def _cross_cases() -> list[Any]:
    rng = random.Random(SEED + 1)
    params = []
    others = 0
    for spec in optimizer_specs("optim"):
        if _torch_class(spec) is None:
            continue  # AdaBelief, Lamb, Lion: torch has none
        if spec.name in CROSS_CONFIGS:
            scheds = CROSS_SCHEDULERS
        else:
            scheds, others = [CROSS_SCHEDULERS[others % len(CROSS_SCHEDULERS)]], others + 1
        for sched in scheds:
            for direction in ("torch_to_optimkit", "optimkit_to_torch"):
                k = rng.randrange(1, STEPS)
                params.append(pytest.param(spec, sched, direction, k, id=f"{direction}-{spec.name}-{sched}-k{k}"))
    return params


CROSS = _cross_cases()


def _cross_build(library: str, spec: OptimizerSpec, sched: str, seed: int) -> Run:
    """``library``'s optimizer and scheduler (torch.optim's or optimkit's), the per-tensor loop
    (``foreach=False``) wherever the class takes the flag."""
    cls = _torch_class(spec) if library == "torch" else spec.cls
    schedulers = torch.optim.lr_scheduler if library == "torch" else ok_sched
    config = dict(CROSS_CONFIGS.get(spec.name) or config_for(spec))
    problem = Problem.of(spec)
    second = second_group_for(spec)
    if spec.name in CROSS_CONFIGS:
        second = {"lr": config["lr"] / 2}
    if takes(cls, "foreach"):
        config["foreach"] = False
    model = problem.model(seed)
    optimizer = cls(problem.groups(model, second), **config)
    sched_name, sched_args, metric = _cross_scheduler(sched, spec, base_lr(spec, config))
    scheduler = getattr(schedulers, sched_name)(optimizer, **sched_args)
    return Run(problem, model, optimizer, scheduler, metric=metric)


def test_cross_cases_cover_the_brief() -> None:
    ids = [p.id for p in CROSS]
    for name in CROSS_CONFIGS:
        for sched in CROSS_SCHEDULERS:
            for direction in ("torch_to_optimkit", "optimkit_to_torch"):
                assert any(i.startswith(f"{direction}-{name}-{sched}-k") for i in ids), (name, sched, direction)
    for spec in optimizer_specs("optim"):
        assert (_torch_class(spec) is None) != any(f"-{spec.name}-" in i for i in ids), spec.name


@pytest.mark.parametrize(("spec", "sched", "direction", "k"), CROSS)
def test_cross_library_resume(spec: OptimizerSpec, sched: str, direction: str, k: int, tmp_path: Path) -> None:
    """A checkpoint of one library, continued in the other, ends bit for bit where the writer's
    uninterrupted run ends (optimizer state, scheduler state, parameters, losses, lrs)."""
    source, target = ("torch", "optimkit") if direction == "torch_to_optimkit" else ("optimkit", "torch")
    full = _cross_build(source, spec, sched, seed=0)
    full.train(0, STEPS, checkpoints={k: tmp_path / "ckpt.pt"})
    assert distinct(full.values) > 1
    if sched == "onecyclelr" and (spec.has_betas or spec.has_momentum):
        assert distinct(full.values, "cycled") > 1
    resumed = _cross_build(target, spec, sched, seed=1)
    assert type(resumed.optimizer).__module__.startswith(target) and type(full.optimizer).__module__.startswith(source)
    resumed.load(tmp_path / "ckpt.pt")
    resumed.train(k, STEPS)
    assert_same_run(resumed, full, k, extensions=OPTIMKIT_EXTENSIONS.get(sched, {}))
