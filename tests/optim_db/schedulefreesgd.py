"""Schedule-free SGD, against the ``schedulefree`` package's ``SGDScheduleFree``."""

from typing import Any

import pytest
import torch

from tests._db import ErrorInput, OptimizerInputs


def reference(params: Any, **options: Any) -> torch.optim.Optimizer:
    """``schedulefree.SGDScheduleFree`` switched to training mode: it starts in evaluation mode and
    refuses to step before ``train()``, where optimkit's class starts in training mode (the switch
    moves nothing before the first step)."""
    schedulefree = pytest.importorskip("schedulefree")
    optimizer = schedulefree.SGDScheduleFree(params, **options)
    optimizer.train()
    return optimizer


ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.01},
        {"lr": 0.5, "warmup_steps": 10, "r": 1.0, "weight_lr_power": 0.0},
        {"lr": 0.2, "momentum": 0.95, "weight_decay": 0.1, "warmup_steps": 50},  # warmup longer than the run
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"momentum": 0.0}, ValueError, "Momentum must be between 0 and 1 exclusive: 0.0"),
        ErrorInput({"momentum": 1.0}, ValueError, "Momentum must be between 0 and 1 exclusive: 1.0"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"warmup_steps": -1}, ValueError, "Invalid warmup_steps value: -1"),
        ErrorInput({"r": -1.0}, ValueError, "Invalid r value: -1.0"),
        ErrorInput({"weight_lr_power": -2.0}, ValueError, "Invalid weight_lr_power value: -2.0"),
        ErrorInput({"warmup_steps": 2.5}, TypeError, "warmup_steps must be an integer, got 2.5"),
    ],
    second_group={"lr": 0.05, "momentum": 0.7, "warmup_steps": 3},
    reference=reference,
    # No `maximize` option, as in the reference.
    supports_maximize=False,
)
