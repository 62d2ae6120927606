import torch

from tests._db import FUSED_CPU_KERNEL, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.1, "lr_decay": 0.05},
        {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5},
        {"lr": 0.05, "eps": 1e-4, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
        {"lr": 0.05, "maximize": True, "weight_decay": 0.02},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"lr_decay": -0.5}, ValueError, "Invalid lr_decay value: -0.5"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"initial_accumulator_value": -1.0}, ValueError,
                   "Invalid initial_accumulator_value value: -1.0"),
        ErrorInput({"eps": -1e-10}, ValueError, "Invalid epsilon value: -1e-10"),
        ErrorInput({"fused": True, "foreach": True}, RuntimeError, "`fused` and `foreach` cannot be `True` together."),
        ErrorInput({"fused": True, "differentiable": True}, RuntimeError, "`fused` does not support `differentiable`"),
        # The first parameter passes the fused device check; the complex one is refused by the update.
        ErrorInput({"fused": True}, RuntimeError, "`fused` does not support sparse grad or complex param", at_step=True),
    ],
    second_group={"lr": 0.02, "lr_decay": 0.02, "weight_decay": 0.05},
    eager_state=True,
    rounding={"default": FUSED_CPU_KERNEL, "fused": FUSED_CPU_KERNEL},
)
