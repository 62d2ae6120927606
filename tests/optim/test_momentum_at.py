"""Every scheduler answers ``momentum_at(step)``: the momenta a run would set at that step, or
``None`` where the scheduler does not schedule momentum."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import optimkit.optim as ok
from optimkit.optim import lr_scheduler as L
from optimkit.registry import scheduler_specs


def _sgd() -> torch.optim.Optimizer:
    return ok.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)


COMPOSITES: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
    "sequential": lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=5),
                                               L.OneCycleLR(o, max_lr=0.1, total_steps=20)], milestones=[5]),
    "sequential-cyclic-first": lambda o: L.SequentialLR(o, [L.CyclicLR(o, 0.01, 0.1, step_size_up=3),
                                                            L.ExponentialLR(o, 0.9)], milestones=[7]),
    "chained": lambda o: L.ChainedScheduler([L.ExponentialLR(o, 0.9), L.OneCycleLR(o, max_lr=0.1, total_steps=20)]),
}


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_composites_answer_for_the_child_that_schedules_momentum(name: str) -> None:
    optimizer = _sgd()
    scheduler = COMPOSITES[name](optimizer)
    for step in range(14):
        momentum = scheduler.momentum_at(step)
        if momentum is not None:
            assert momentum == pytest.approx([optimizer.param_groups[0]["momentum"]], rel=1e-12), step
        optimizer.step()
        scheduler.step()
    assert any(scheduler.momentum_at(step) is not None for step in range(14))


def test_schedulers_without_momentum_say_none() -> None:
    for spec in scheduler_specs("optim"):
        if spec.name in ("onecyclelr", "cycliclr", "sequentiallr", "chainedscheduler"):
            continue
        assert hasattr(spec.cls, "momentum_at"), spec.name
    assert L.StepLR(_sgd(), 3).momentum_at(4) is None
    optimizer = _sgd()
    sequence = L.SequentialLR(optimizer, [L.ConstantLR(optimizer), L.ExponentialLR(optimizer, 0.9)], milestones=[2])
    assert sequence.momentum_at(5) is None
