import torch

from tests._db import COMPILED_RULE, SCALAR_STATE_BEFORE_STORING, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        # A large momentum_decay makes mu_t reach beta1 within the 30 steps.
        {"lr": 0.01, "momentum_decay": 0.5, "betas": (0.95, 0.99)},
        {"lr": 0.01, "momentum_decay": 0.0},
        {"lr": 0.01, "maximize": True, "weight_decay": 0.05},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"betas": (0.9, -0.1)}, ValueError, r"Invalid beta parameter at index 1: -0.1"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"momentum_decay": -0.2}, ValueError, "Invalid momentum_decay value: -0.2"),
        # capturable needs an accelerator; the for-loop and foreach checks are worded differently.
        ErrorInput({"capturable": True}, AssertionError,
                   r"If capturable=True, params, mu_products and state_steps must be on supported devices: "
                   r"\['cuda', 'xpu', 'hpu', 'privateuseone', 'xla'\]\.", at_step=True),
        ErrorInput({"capturable": True, "foreach": True}, AssertionError,
                   r"If capturable=True, params, mu_products, and state_steps must be on supported devices: "
                   r"\['cuda', 'xpu', 'hpu', 'privateuseone'\]\.", at_step=True),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.95), "weight_decay": 0.01, "momentum_decay": 0.01},
    rounding={"fused": COMPILED_RULE},
    rounding_tolerance={"fused": SCALAR_STATE_BEFORE_STORING},
)
