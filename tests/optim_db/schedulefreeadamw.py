"""Schedule-free AdamW, against the ``schedulefree`` package's ``AdamWScheduleFree``."""

from typing import Any

import pytest
import torch

from tests._db import ErrorInput, OptimizerInputs


def reference(params: Any, **options: Any) -> torch.optim.Optimizer:
    """``schedulefree.AdamWScheduleFree`` switched to training mode (see the SGD entry's reference)."""
    schedulefree = pytest.importorskip("schedulefree")
    optimizer = schedulefree.AdamWScheduleFree(params, **options)
    optimizer.train()
    return optimizer


ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.1},
        {"lr": 0.005, "eps": 1e-6, "warmup_steps": 10, "r": 0.5, "weight_lr_power": 1.0},
        {"lr": 0.02, "betas": (0.95, 0.99), "weight_decay": 0.01, "warmup_steps": 50},  # warmup longer than the run
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"betas": (0.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 0.0 \(must be in \(0, 1\)\)"),
        ErrorInput({"betas": (0.9, 1.0)}, ValueError, "Invalid beta parameter at index 1: 1.0"),
        ErrorInput({"betas": (0.9,)}, ValueError, r"betas must have 2 entries, got \(0.9,\)"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"warmup_steps": -1}, ValueError, "Invalid warmup_steps value: -1"),
        ErrorInput({"r": -1.0}, ValueError, "Invalid r value: -1.0"),
        ErrorInput({"weight_lr_power": -2.0}, ValueError, "Invalid weight_lr_power value: -2.0"),
    ],
    second_group={"lr": 0.002, "betas": (0.95, 0.99), "weight_decay": 0.01, "warmup_steps": 3},
    reference=reference,
    supports_maximize=False,
)
