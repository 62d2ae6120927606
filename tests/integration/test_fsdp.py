"""FSDP2 (``fully_shard``) with optimkit optimizers and schedulers: real processes, gloo, CPU.

Two processes each hold half of every parameter (a DTensor sharded on dimension 0, unevenly where
the size is odd) and train on half of every batch; FSDP averages the gradients in its
reduce-scatter, so the gathered parameters and optimizer state must be those of a single process
on the whole batches (float64, rtol 1e-10). A run checkpointed with torch.distributed.checkpoint
(DCP) after RESUME_AT steps (``get_model_state_dict`` / ``get_optimizer_state_dict``, and the
optimkit scheduler as a Stateful entry of the same DCP dict), then loaded in two fresh processes
(``set_model_state_dict`` / ``set_optimizer_state_dict``), must continue exactly as the
uninterrupted run.

Combinations torch 2.13 itself cannot run on DTensor parameters are skipped with torch's error,
and only when torch.optim's own optimizer fails the same way (its "twin" runs alongside).

Two starts of two processes in all: the first trains every case uninterrupted and up to the
checkpoint (and the mixed-precision comparison), the second resumes every case.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch import nn

import optimkit.optim as ok
from optimkit.optim import lr_scheduler as sched
from tests.integration._distributed import WORLD, halves, spawn
from tests.integration.test_ddp import _batch, _model

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

STEPS, RESUME_AT = 8, 4


@dataclass(frozen=True)
class Case:
    optimizer: Callable[[Any], torch.optim.Optimizer]
    scheduler: Callable[[torch.optim.Optimizer], Any]
    # torch.optim's counterpart, for a combination that may not run on DTensor: when both fail,
    # the case is skipped with torch's error; when only optimkit's fails, the case fails.
    twin: Callable[[Any], torch.optim.Optimizer] | None = None


CASES: dict[str, Case] = {
    # The default executor: DTensors are not plain tensors, so not the fused kernel but the for-loop.
    "adamw-onecycle": Case(lambda p: ok.AdamW(p, lr=1e-2, weight_decay=0.05),
                           lambda opt: sched.OneCycleLR(opt, max_lr=5e-2, total_steps=STEPS)),
    "adamw-foreach-cosine": Case(lambda p: ok.AdamW(p, lr=1e-2, weight_decay=0.05, foreach=True),
                                 lambda opt: sched.CosineAnnealingLR(opt, T_max=STEPS)),
    "adamw-fused-step": Case(lambda p: ok.AdamW(p, lr=1e-2, weight_decay=0.05, fused=True),
                             lambda opt: sched.StepLR(opt, step_size=3, gamma=0.5)),
    "sgd-nesterov-step": Case(lambda p: ok.SGD(p, lr=5e-2, momentum=0.9, nesterov=True, weight_decay=1e-3),
                              lambda opt: sched.StepLR(opt, step_size=3, gamma=0.5)),
    # Not element-wise: the trust ratio takes norms of whole parameters (DTensor reductions).
    "lamb-linear": Case(lambda p: ok.Lamb(p, lr=1e-2, weight_decay=0.01),
                        lambda opt: sched.LinearLR(opt, start_factor=0.5, total_iters=4)),
    "sgd-fused-step": Case(lambda p: ok.SGD(p, lr=5e-2, momentum=0.9, fused=True),
                           lambda opt: sched.StepLR(opt, step_size=3, gamma=0.5),
                           twin=lambda p: torch.optim.SGD(p, lr=5e-2, momentum=0.9, fused=True)),
    "adagrad-fused-step": Case(lambda p: ok.Adagrad(p, lr=5e-2, fused=True),
                               lambda opt: sched.StepLR(opt, step_size=3, gamma=0.5),
                               twin=lambda p: torch.optim.Adagrad(p, lr=5e-2, fused=True)),
}


def _sharded(mesh: Any, **kwargs: Any) -> nn.Module:
    """The test model with each Linear and the whole model sharded over ``mesh`` (FSDP2)."""
    from torch.distributed.fsdp import fully_shard

    model = _model()
    for layer in model:
        if isinstance(layer, nn.Linear):
            fully_shard(layer, mesh=mesh, **kwargs)
    return fully_shard(model, mesh=mesh, **kwargs)


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, steps: range,
           rank: int | None, dtype: torch.dtype = torch.float64) -> None:
    for step in steps:
        x, y = _batch(step)
        if rank is not None:
            x, y = halves(x, rank), halves(y, rank)
        optimizer.zero_grad()
        (model(x.to(dtype)) - y.to(dtype)).pow(2).mean().backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def _full(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Parameters and optimizer state gathered into full tensors (on every rank), by name."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    return {"params": get_model_state_dict(model, options=options),
            "state": get_optimizer_state_dict(model, optimizer, options=options)["state"]}


def _checkpoint_dict(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> dict[str, Any]:
    """What DCP saves and loads: the sharded model and optimizer state, and the scheduler (Stateful)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    return {"model": get_model_state_dict(model), "optim": get_optimizer_state_dict(model, optimizer),
            "scheduler": scheduler}


def _first(rank: int, folder: str) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy

    out = Path(folder)
    mesh = init_device_mesh("cpu", (WORLD,))
    results: dict[str, Any] = {}
    for name, case in CASES.items():
        try:
            model = _sharded(mesh)
            optimizer = case.optimizer(model.parameters())
            scheduler = case.scheduler(optimizer)
            _train(model, optimizer, scheduler, range(STEPS), rank)
            results[name] = {**_full(model, optimizer), "lr": scheduler.get_last_lr()}

            model = _sharded(mesh)
            optimizer = case.optimizer(model.parameters())
            scheduler = case.scheduler(optimizer)
            _train(model, optimizer, scheduler, range(RESUME_AT), rank)
            dcp.save(_checkpoint_dict(model, optimizer, scheduler), checkpoint_id=out / name)
        except Exception:  # noqa: BLE001 - reported by the test of this case
            results[name] = {"error": traceback.format_exc()}
            if case.twin is not None:
                try:
                    model = _sharded(mesh)
                    _train(model, case.twin(model.parameters()), None, range(1), rank)
                except Exception as twin_error:  # noqa: BLE001
                    results[name]["twin_error"] = f"{type(twin_error).__name__}: {twin_error}".splitlines()[0]

    # Mixed precision (bfloat16 compute, float32 reduce-scatter, float64 sharded parameters):
    # no single-process equivalent, so optimkit's AdamW against torch.optim's in the same setup.
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for name, cls in (("mixed-optimkit", ok.AdamW), ("mixed-torch", torch.optim.AdamW)):
        model = _sharded(mesh, mp_policy=policy)
        optimizer = cls(model.parameters(), lr=1e-2, weight_decay=0.05)
        _train(model, optimizer, None, range(STEPS), rank, dtype=torch.bfloat16)
        results[name] = _full(model, optimizer)
    torch.save(results, out / f"first-{rank}.pt")


def _resumed(rank: int, folder: str) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict
    from torch.distributed.device_mesh import init_device_mesh

    out = Path(folder)
    mesh = init_device_mesh("cpu", (WORLD,))
    results: dict[str, Any] = {}
    for name, case in CASES.items():
        if not (out / name).exists():
            continue  # the first run failed; its test says why
        try:
            model = _sharded(mesh)
            optimizer = case.optimizer(model.parameters())
            scheduler = case.scheduler(optimizer)
            # The optimizer state is still empty: get_optimizer_state_dict creates it (one step with
            # lr 0 and zero gradients) for DCP to load into. The scheduler loads inside dcp.load.
            state = _checkpoint_dict(model, optimizer, scheduler)
            dcp.load(state, checkpoint_id=out / name)
            set_model_state_dict(model, state["model"])
            set_optimizer_state_dict(model, optimizer, state["optim"])
            _train(model, optimizer, scheduler, range(RESUME_AT, STEPS), rank)
            results[name] = {**_full(model, optimizer), "lr": scheduler.get_last_lr()}
        except Exception:  # noqa: BLE001 - reported by the test of this case
            results[name] = {"error": traceback.format_exc()}
    torch.save(results, out / f"resumed-{rank}.pt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("fsdp")
    spawn(_first, str(folder))
    spawn(_resumed, str(folder))  # a real restart: fresh processes, fresh objects
    return {phase: [torch.load(folder / f"{phase}-{rank}.pt", weights_only=True) for rank in range(WORLD)]
            for phase in ("first", "resumed")}


def _unsharded_reference(case: Case) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[float]]:
    model = _model()
    optimizer = case.optimizer(model.parameters())
    scheduler = case.scheduler(optimizer)
    _train(model, optimizer, scheduler, range(STEPS), None)
    names = [name for name, _ in model.named_parameters()]
    state = {names[i]: s for i, s in optimizer.state_dict()["state"].items()}
    return dict(model.named_parameters()), state, scheduler.get_last_lr()


def _assert_state_close(actual: dict[str, Any], expected: dict[str, Any], **tolerance: float) -> None:
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert sorted(actual[name]) == sorted(expected[name]), name
        for key, value in expected[name].items():
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(actual[name][key], value, **tolerance)
            else:
                assert actual[name][key] == value, (name, key)


def _assert_state_equal(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    _assert_state_close(actual, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_fsdp2_trains_as_one_process_and_resumes_exactly_from_dcp(
        name: str, runs: dict[str, list[dict[str, Any]]]) -> None:
    first = [per_rank[name] for per_rank in runs["first"]]
    if "error" in first[0]:
        twin_error = first[0].get("twin_error")
        if twin_error is not None:
            error = first[0]["error"].strip().splitlines()[-1]
            pytest.skip(f"torch {torch.__version__} cannot run this on DTensor parameters, optimkit ({error}) "
                        f"nor torch.optim ({twin_error})")
        pytest.fail(f"optimkit failed under FSDP2 (where torch.optim runs, if it has a twin):\n{first[0]['error']}")
    assert "error" not in first[1], first[1]["error"]
    resumed = [per_rank[name] for per_rank in runs["resumed"]]
    for result in resumed:
        assert "error" not in result, result["error"]

    params, state, lr = _unsharded_reference(CASES[name])
    untrained = dict(_model().named_parameters())
    for rank in range(WORLD):
        uninterrupted = first[rank]
        # Sharded training on half batches = one process on the whole batches.
        assert sorted(uninterrupted["params"]) == sorted(params)
        for key, p in params.items():
            torch.testing.assert_close(uninterrupted["params"][key], p.detach(), rtol=1e-10, atol=1e-12)
            assert not torch.equal(uninterrupted["params"][key], untrained[key].detach())  # it trained
        _assert_state_close(uninterrupted["state"], state, rtol=1e-10, atol=1e-12)
        assert uninterrupted["lr"] == pytest.approx(lr, rel=1e-12)
        # A restart from the DCP checkpoint changes nothing, not even in the last bit.
        for key, p in uninterrupted["params"].items():
            assert torch.equal(resumed[rank]["params"][key], p), key
        _assert_state_equal(resumed[rank]["state"], uninterrupted["state"])
        assert resumed[rank]["lr"] == uninterrupted["lr"]


def test_fsdp2_mixed_precision_optimkit_equals_torch(runs: dict[str, list[dict[str, Any]]]) -> None:
    untrained = dict(_model().named_parameters())
    for per_rank in runs["first"]:
        optimkit, reference = per_rank["mixed-optimkit"], per_rank["mixed-torch"]
        for key, p in reference["params"].items():
            assert p.dtype == torch.float64  # the sharded parameters stay float64
            torch.testing.assert_close(optimkit["params"][key], p, rtol=1e-10, atol=1e-12)
            assert not torch.equal(p, untrained[key].detach())
        _assert_state_close(optimkit["state"], reference["state"], rtol=1e-10, atol=1e-12)
