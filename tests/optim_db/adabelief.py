from tests._db import COMPILED_RULE, ErrorInput, OptimizerInputs
from tests.optim._references import ReferenceAdaBelief

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-8},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "amsgrad": True, "weight_decay": 0.05, "eps": 1e-10},
        {"lr": 0.01, "maximize": True, "amsgrad": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.95), "weight_decay": 0.01},
    reference=ReferenceAdaBelief,
    rounding={"fused": COMPILED_RULE},
)
