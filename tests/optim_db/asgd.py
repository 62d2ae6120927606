import torch

from tests._db import COMPILED_RULE, SCALAR_STATE_BEFORE_STORING, ErrorInput, OptimizerInputs

_CAPTURABLE_MESSAGE = "If capturable=True, params, mus, etas, and state_steps must be on supported devices"

ENTRY = OptimizerInputs(
    configs=[
        # The default t0 = 1e6: the average is a copy of the parameters throughout.
        {},
        # Averaging starts after a few steps, with a fast step-size decay.
        {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5, "t0": 5},
        {"lr": 0.02, "weight_decay": 0.1, "t0": 3},
        {"lr": 0.02, "lambd": 1e-3, "weight_decay": 0.05, "t0": 10, "maximize": True},
        {"lr": torch.tensor(0.03), "t0": 4},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"weight_decay": -0.5}, ValueError, "Invalid weight_decay value: -0.5"),
        ErrorInput({"capturable": True}, AssertionError, _CAPTURABLE_MESSAGE, at_step=True),
        ErrorInput({"capturable": True, "foreach": True}, AssertionError, _CAPTURABLE_MESSAGE, at_step=True),
        ErrorInput({"foreach": True, "differentiable": True}, AssertionError, "_foreach ops don't support autograd",
                   at_step=True),
    ],
    second_group={"lr": 0.01, "lambd": 5e-3, "alpha": 0.6, "t0": 2, "weight_decay": 0.01},
    # torch's foreach ASGD computes eta from the float32 step tensor, its for-loop from the step
    # as a Python float: the trajectories part at about 1e-8 relative (see asgd_rule).
    foreach_loop_tolerance={"rtol": 1e-6, "atol": 1e-8},
    rounding={"fused": COMPILED_RULE},
    rounding_tolerance={"fused": SCALAR_STATE_BEFORE_STORING},
)
