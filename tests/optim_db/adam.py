from tests._db import FUSED_CPU_KERNEL, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05},
        {"lr": 0.01, "maximize": True, "amsgrad": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"betas": (0.9, -0.1)}, ValueError, r"Invalid beta parameter at index 1: -0.1"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"fused": True, "foreach": True}, RuntimeError, "`fused` and `foreach` cannot be `True` together."),
        ErrorInput({"fused": True, "differentiable": True}, RuntimeError, "`fused` does not support `differentiable`"),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.95), "weight_decay": 0.01},
    rounding={"default": FUSED_CPU_KERNEL, "fused": FUSED_CPU_KERNEL},
)
