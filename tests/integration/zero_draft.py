"""DRAFT, not collected by pytest (the name does not start with ``test_``): see issue 13.

This test passes alone, but a ZeRO process aborts with SIGABRT ("terminate called without an active
exception") in about 1 run of 3-5 on this 2-core machine, torch 2.13, gloo. It happens with
optimkit's AdamW (fused default or foreach=False) and with torch.optim.AdamW(fused=True) alike.
It must be made reliable before CI runs it: find the abort first (gloo work objects outliving
DDP/ZeRO? ZeRO's parameter broadcasts?).

ZeroRedundancyOptimizer (torch.distributed.optim) over optimkit optimizers: real processes, gloo.

Each of 2 processes keeps the state of half of the parameters. A run interrupted after a few steps
(``consolidate_state_dict()`` on rank 0, saved with ``torch.save``, loaded by the fresh objects of
two fresh processes) must continue exactly as the uninterrupted run, and both must train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

import optimkit.optim as ok
from tests.integration.test_ddp import WORLD, _batch, _free_port, _model

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

STEPS, RESUME_AT = 8, 4
# AdamW with foreach=False: with torch's fused CPU kernel (optimkit's default for AdamW, and
# torch.optim.AdamW(fused=True) alike) a ZeRO process aborted (SIGABRT, "terminate called without an
# active exception") in about 1 run of 5 here, torch 2.13; the for-loop never did in 5. Open in
# issue 13: whether the fused default must step aside under ZeroRedundancyOptimizer.
OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "adamw": (ok.AdamW, {"lr": 1e-2, "weight_decay": 0.05, "foreach": False}),
    "sgd-momentum": (ok.SGD, {"lr": 5e-2, "momentum": 0.9}),
}


def _zero(model: nn.Module, name: str) -> Any:
    from torch.distributed.optim import ZeroRedundancyOptimizer

    cls, kwargs = OPTIMIZERS[name]
    return ZeroRedundancyOptimizer(model.parameters(), optimizer_class=cls, **kwargs)


def _steps(model: nn.Module, optimizer: Any, steps: range, rank: int) -> None:
    half = _batch(0)[0].shape[0] // WORLD
    for step in steps:
        x, y = _batch(step)
        x, y = x[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half]
        optimizer.zero_grad()
        (model(x) - y).pow(2).mean().backward()
        optimizer.step()


def _worker(rank: int, port: int, name: str, folder: str, phase: str) -> None:
    """One phase in its own pair of processes (each phase is a fresh start, as a real restart is):
    ``uninterrupted`` trains STEPS steps; ``first`` trains RESUME_AT steps and writes a checkpoint;
    ``resumed`` loads it into fresh objects and trains the rest."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        out = Path(folder)
        model = _model()
        if phase == "resumed":
            checkpoint = torch.load(out / "ckpt.pt", weights_only=True)
            model.load_state_dict(checkpoint["model"])
        model = nn.parallel.DistributedDataParallel(model)
        optimizer = _zero(model, name)
        if phase == "resumed":
            optimizer.load_state_dict(checkpoint["optimizer"])
        steps = {"uninterrupted": range(STEPS), "first": range(RESUME_AT), "resumed": range(RESUME_AT, STEPS)}[phase]
        _steps(model, optimizer, steps, rank)
        if phase == "first":
            optimizer.consolidate_state_dict(to=0)
            if rank == 0:
                torch.save({"model": model.module.state_dict(), "optimizer": optimizer.state_dict()},
                           out / "ckpt.pt")
        elif rank == 0:
            torch.save([p.detach().clone() for p in model.module.parameters()], out / f"{phase}.pt")
        dist.barrier()  # neither process tears the group down while the other still uses it
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_zero_trains_and_resumes_exactly(name: str, tmp_path: Path) -> None:
    for phase in ("uninterrupted", "first", "resumed"):
        mp.spawn(_worker, args=(_free_port(), name, str(tmp_path), phase), nprocs=WORLD, join=True)
    uninterrupted = torch.load(tmp_path / "uninterrupted.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    untrained = list(_model().parameters())
    for p, q, before in zip(uninterrupted, resumed, untrained):
        assert torch.equal(p, q)
        assert not torch.equal(p, before.detach())
    # Each rank kept the state of part of the parameters only; the consolidated dict has them all.
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["optimizer"]["state"]
    assert len(state) == len(untrained)
