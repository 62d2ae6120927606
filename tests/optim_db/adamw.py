from tests._db import FUSED_CPU_KERNEL, ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.8, 0.95), "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.0, "maximize": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"betas": (0.9, 1.5)}, ValueError, r"Invalid beta parameter at index 1: 1.5"),
        ErrorInput({"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
        ErrorInput({"fused": True, "foreach": True}, RuntimeError, "`fused` and `foreach` cannot be `True` together."),
    ],
    second_group={"lr": 0.002, "weight_decay": 0.2},
    rounding={"default": FUSED_CPU_KERNEL, "fused": FUSED_CPU_KERNEL},
)
