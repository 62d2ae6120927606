import torch

from tests._db import COMPILED_RULE, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        # beta2 = 0.999: rho_t first exceeds 5 at step 6, so 30 steps cover both branches.
        {},
        {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        # rho_inf = 3 < 5: never rectified, plain bias-corrected momentum throughout.
        {"lr": 0.01, "betas": (0.9, 0.5)},
        {"lr": 0.01, "maximize": True, "weight_decay": 0.05},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"betas": (0.9, 1.5)}, ValueError, r"Invalid beta parameter at index 1: 1.5"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"capturable": True}, AssertionError,
                   r"If capturable=True, params and state_steps must be on supported devices: "
                   r"\['cuda', 'xpu', 'hpu', 'privateuseone', 'xla'\]\.", at_step=True),
        ErrorInput({"capturable": True, "foreach": True}, AssertionError,
                   r"If capturable=True, params and state_steps must be on supported devices: "
                   r"\['cuda', 'xpu', 'hpu', 'privateuseone'\]\.", at_step=True),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.99), "weight_decay": 0.01},
    rounding={"fused": COMPILED_RULE},
)
