"""DistributedDataParallel with optimkit optimizers and schedulers: real processes, real gloo.

Two processes on loopback (spawned by the test) each train a DDP-wrapped model on half of every
batch; DDP averages their gradients, so the trajectory must be the one a single process takes on
the whole batches with a mean loss. float64 throughout, so the comparison can be tight.
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
from tests.integration._distributed import WORLD, halves, spawn

STEPS = 12
BATCH = 16

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + step)
    return (torch.randn(BATCH, 6, generator=generator, dtype=torch.float64),
            torch.randn(BATCH, 3, generator=generator, dtype=torch.float64))


# Each case: (optimizer factory, scheduler factory), both taking what they wrap.
Case = tuple[Callable[[Any], torch.optim.Optimizer], Callable[[torch.optim.Optimizer], Any]]
CASES: dict[str, Case] = {
    "adamw-onecycle": (
        lambda params: ok.AdamW(params, lr=1e-2, weight_decay=0.05),
        lambda opt: sched.OneCycleLR(opt, max_lr=5e-2, total_steps=STEPS),
    ),
    "sgd-nesterov-step": (
        lambda params: ok.SGD(params, lr=5e-2, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda opt: sched.StepLR(opt, step_size=4, gamma=0.5),
    ),
    "lamb-cosine": (
        lambda params: ok.Lamb(params, lr=1e-2, weight_decay=0.01),
        lambda opt: sched.CosineAnnealingLR(opt, T_max=STEPS),
    ),
}


def _train(model: nn.Module, case: str, rank: int | None) -> None:
    """STEPS steps; with ``rank``, on that rank's half of each batch (the model is DDP-wrapped)."""
    make_opt, make_sched = CASES[case]
    optimizer = make_opt(model.parameters())
    _steps(model, optimizer, make_sched(optimizer), range(STEPS), rank)


def _steps(model: nn.Module, optimizer: Any, scheduler: Any, steps: range, rank: int | None) -> None:
    """The training steps ``steps`` on batches ``_batch(step)`` (a rank's half of each)."""
    for step in steps:
        x, y = _batch(step)
        if rank is not None:
            x, y = halves(x, rank), halves(y, rank)
        optimizer.zero_grad()
        (model(x) - y).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()


def _worker(rank: int, case: str, out: str) -> None:
    model = nn.parallel.DistributedDataParallel(_model())
    _train(model, case, rank)
    if rank == 0:
        torch.save([p.detach().clone() for p in model.module.parameters()], out)


@pytest.mark.parametrize("case", list(CASES))
def test_ddp_two_processes_equal_one_process_on_the_whole_batches(case: str, tmp_path: Path) -> None:
    out = tmp_path / "params.pt"
    spawn(_worker, case, str(out))
    distributed = torch.load(out, weights_only=True)

    reference = _model()
    _train(reference, case, None)
    untrained = list(_model().parameters())
    for p, q, before in zip(reference.parameters(), distributed, untrained):
        torch.testing.assert_close(q, p.detach(), rtol=1e-10, atol=1e-12)
        assert not torch.equal(q, before)  # it trained
