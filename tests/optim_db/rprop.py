import torch

from tests._db import COMPILED_RULE, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.05, "etas": (0.3, 1.5)},
        # Tight bounds: both clamps bite within a few steps.
        {"lr": 0.01, "step_sizes": (0.005, 0.02)},
        {"lr": 0.02, "etas": (0.6, 1.1), "step_sizes": (1e-3, 0.1), "maximize": True},
        {"lr": torch.tensor(0.03)},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"etas": (1.0, 1.2)}, ValueError, "Invalid eta values: 1.0, 1.2"),
        ErrorInput({"etas": (0.0, 1.2)}, ValueError, "Invalid eta values: 0.0, 1.2"),
        ErrorInput({"etas": (0.5, 0.9)}, ValueError, "Invalid eta values: 0.5, 0.9"),
        ErrorInput({"capturable": True}, AssertionError,
                   "If capturable=True, params and state_steps must be on supported devices", at_step=True),
        ErrorInput({"capturable": True, "foreach": True}, AssertionError,
                   "If capturable=True, params and state_steps must be on supported devices", at_step=True),
        ErrorInput({"foreach": True, "differentiable": True}, AssertionError, "_foreach ops don't support autograd",
                   at_step=True),
    ],
    second_group={"lr": 0.005, "etas": (0.4, 1.3), "step_sizes": (1e-4, 1.0)},
    rounding={"fused": COMPILED_RULE},
)
