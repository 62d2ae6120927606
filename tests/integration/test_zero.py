"""ZeroRedundancyOptimizer (torch.distributed.optim) over optimkit optimizers: real processes, gloo.

Two processes train a DDP-wrapped model on half of every batch; ZeRO gives each the optimizer state
of part of the parameters (a local optimkit optimizer over that part) and broadcasts the updated
parameters. The trajectory must be the one a single process takes on the whole batches, and a run
interrupted after RESUME_AT steps (``consolidate_state_dict(to=0)``, saved with ``torch.save`` by
rank 0 together with the optimkit scheduler's state, loaded by fresh objects in two fresh
processes) must continue exactly as the uninterrupted run. float64 throughout.

AdamW runs with optimkit's default executor: ZeRO hands its local optimizer plain CPU Parameters,
so that is torch's fused CPU kernel (checked below).

Two starts of two processes in all: the first trains every case uninterrupted and up to the
checkpoint, the second resumes every case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch import nn

import optimkit.optim as ok
from optimkit.optim import lr_scheduler as sched
from tests.integration._distributed import WORLD, spawn
from tests.integration.test_ddp import _model, _steps

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

STEPS, RESUME_AT = 8, 4

# name: (optimizer class, its arguments, scheduler factory)
# ZeRO's ``defaults`` hold only the arguments given to it, and OneCycleLR (torch's and optimkit's)
# looks there for ``betas`` or ``momentum`` to cycle: AdamW's betas are named.
CASES: dict[str, tuple[type, dict[str, Any], Callable[[Any], Any]]] = {
    "adamw-onecycle": (ok.AdamW, {"lr": 1e-2, "betas": (0.9, 0.999), "weight_decay": 0.05},
                       lambda opt: sched.OneCycleLR(opt, max_lr=5e-2, total_steps=STEPS)),
    "sgd-nesterov-step": (ok.SGD, {"lr": 5e-2, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
                          lambda opt: sched.StepLR(opt, step_size=3, gamma=0.5)),
    "lamb-cosine": (ok.Lamb, {"lr": 1e-2, "weight_decay": 0.01},
                    lambda opt: sched.CosineAnnealingLR(opt, T_max=STEPS)),
}


def _zero(model: nn.Module, case: str) -> Any:
    from torch.distributed.optim import ZeroRedundancyOptimizer

    cls, kwargs, _ = CASES[case]
    return ZeroRedundancyOptimizer(model.parameters(), optimizer_class=cls, **kwargs)


def _fused_steps(optimizer: Any) -> list[bool]:
    """For each group of ZeRO's local optimizer: whether its step runs torch's fused kernel."""
    local = optimizer.optim
    return [local._runs_fused(group, [p for p in group["params"] if p.grad is not None])
            for group in local.param_groups]


def _first(rank: int, folder: str) -> None:
    """Every case: STEPS steps uninterrupted, then (fresh objects) RESUME_AT steps and a checkpoint."""
    out = Path(folder)
    for case in CASES:
        model = nn.parallel.DistributedDataParallel(_model())
        optimizer = _zero(model, case)
        scheduler = CASES[case][2](optimizer)
        _steps(model, optimizer, scheduler, range(STEPS), rank)
        local_state = len(optimizer.optim.state)  # the parameters whose state this rank keeps
        fused = _fused_steps(optimizer)
        torch.save({"params": [p.detach().clone() for p in model.module.parameters()],
                    "lr": scheduler.get_last_lr(), "local_state": local_state, "fused": fused},
                   out / f"{case}-uninterrupted-{rank}.pt")

        model = nn.parallel.DistributedDataParallel(_model())
        optimizer = _zero(model, case)
        scheduler = CASES[case][2](optimizer)
        _steps(model, optimizer, scheduler, range(RESUME_AT), rank)
        optimizer.consolidate_state_dict(to=0)
        if rank == 0:
            torch.save({"model": model.module.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict()}, out / f"{case}-checkpoint.pt")


def _resumed(rank: int, folder: str) -> None:
    """Every case: fresh objects load the checkpoint and train the remaining steps."""
    out = Path(folder)
    for case in CASES:
        checkpoint = torch.load(out / f"{case}-checkpoint.pt", weights_only=True)
        model = _model()
        model.load_state_dict(checkpoint["model"])
        model = nn.parallel.DistributedDataParallel(model)
        optimizer = _zero(model, case)
        scheduler = CASES[case][2](optimizer)
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        _steps(model, optimizer, scheduler, range(RESUME_AT, STEPS), rank)
        torch.save({"params": [p.detach().clone() for p in model.module.parameters()],
                    "lr": scheduler.get_last_lr()}, out / f"{case}-resumed-{rank}.pt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zero")
    spawn(_first, str(folder))
    spawn(_resumed, str(folder))  # a real restart: fresh processes, fresh objects
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_zero_trains_as_one_process_and_resumes_exactly(case: str, runs: Path) -> None:
    load = lambda name: torch.load(runs / f"{case}-{name}.pt", weights_only=True)  # noqa: E731
    uninterrupted = [load(f"uninterrupted-{rank}") for rank in range(WORLD)]
    resumed = [load(f"resumed-{rank}") for rank in range(WORLD)]

    cls, kwargs, make_scheduler = CASES[case]
    reference = _model()
    optimizer = cls(reference.parameters(), **kwargs)
    scheduler = make_scheduler(optimizer)
    _steps(reference, optimizer, scheduler, range(STEPS), None)
    untrained = list(_model().parameters())

    for rank in range(WORLD):
        # The same parameters on both ranks (ZeRO broadcast each rank's updates to the other) ...
        for p, q, before in zip(reference.parameters(), uninterrupted[rank]["params"], untrained):
            torch.testing.assert_close(q, p.detach(), rtol=1e-10, atol=1e-12)  # ... one process's
            assert not torch.equal(q, before)  # it trained
        # A restart in the middle changes nothing, not even in the last bit.
        for q, r in zip(uninterrupted[rank]["params"], resumed[rank]["params"]):
            assert torch.equal(q, r)
        assert resumed[rank]["lr"] == uninterrupted[rank]["lr"] == scheduler.get_last_lr()

    # Each rank kept the state of part of the parameters only; the consolidated dict has them all.
    local = [uninterrupted[rank]["local_state"] for rank in range(WORLD)]
    assert all(0 < n < len(untrained) for n in local) and sum(local) == len(untrained)
    state = torch.load(runs / f"{case}-checkpoint.pt", weights_only=True)["optimizer"]["state"]
    assert sorted(state) == list(range(len(untrained)))
    if cls is ok.AdamW:  # the default executor under ZeRO: torch's fused CPU kernel
        assert all(all(load(f"uninterrupted-{rank}")["fused"]) for rank in range(WORLD))
