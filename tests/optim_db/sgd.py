from tests._db import FUSED_CPU_KERNEL, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {"lr": 0.1},
        {"lr": 0.1, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.5, "maximize": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": 0.1, "momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
        ErrorInput({"lr": 0.1, "weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"lr": 0.1, "nesterov": True}, ValueError, "Nesterov momentum requires a momentum and zero dampening"),
        ErrorInput({"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, ValueError,
                   "Nesterov momentum requires a momentum and zero dampening"),
        ErrorInput({"lr": 0.1, "fused": True, "foreach": True}, RuntimeError, "`fused` and `foreach` cannot be `True` together."),
        ErrorInput({"lr": 0.1, "fused": True, "differentiable": True}, RuntimeError, "`fused` does not support `differentiable`"),
    ],
    second_group={"lr": 0.02, "weight_decay": 0.01},
    rounding={"default": FUSED_CPU_KERNEL, "fused": FUSED_CPU_KERNEL},
)
