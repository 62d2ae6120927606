from tests._db import COMPILED_RULE, ErrorInput, OptimizerInputs
from tests.optim._references import ReferenceLion

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "betas": (0.8, 0.95)},
        {"lr": 0.01, "weight_decay": 0.5},
        {"lr": 0.005, "maximize": True, "weight_decay": 0.1},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"betas": (1.0, 0.99)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"betas": (0.9, 1.5)}, ValueError, r"Invalid beta parameter at index 1: 1.5"),
        ErrorInput({"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
    ],
    second_group={"lr": 0.002, "betas": (0.95, 0.98), "weight_decay": 0.2},
    reference=ReferenceLion,
    rounding={"fused": COMPILED_RULE},
)
