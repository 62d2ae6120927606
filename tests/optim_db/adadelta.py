import torch

from tests._db import COMPILED_RULE, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.5, "rho": 0.8, "eps": 1e-4},
        {"lr": 0.5, "weight_decay": 0.1},
        {"rho": 0.0, "eps": 1e-3},
        {"lr": 0.3, "maximize": True, "weight_decay": 0.05},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"rho": 1.5}, ValueError, "Invalid rho value: 1.5"),
        ErrorInput({"rho": -0.1}, ValueError, "Invalid rho value: -0.1"),
        ErrorInput({"eps": -1e-6}, ValueError, "Invalid epsilon value: -1e-06"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        # capturable needs an accelerator; torch's Adadelta leaves XLA out of the list it prints.
        ErrorInput({"capturable": True}, AssertionError,
                   r"If capturable=True, params and state_steps must be on supported devices: "
                   r"\['cuda', 'xpu', 'hpu', 'privateuseone'\]\.", at_step=True),
    ],
    second_group={"lr": 0.7, "rho": 0.95, "weight_decay": 0.02},
    rounding={"fused": COMPILED_RULE},
)
