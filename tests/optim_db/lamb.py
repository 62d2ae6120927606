from optimkit.optim.lamb import WEIGHT_NORM_CLAMP
from tests._db import ErrorInput, OptimizerInputs
from tests.optim._references import ReferenceLamb

assert WEIGHT_NORM_CLAMP == 10.0, "the reference hard-codes Cerebras' cap on the weight norm"

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.05, "adam": True},
        {"lr": 0.02, "maximize": True, "weight_decay": 0.01},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"eps": -1e-6}, ValueError, "Invalid epsilon value: -1e-06"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"betas": (0.9, -0.1)}, ValueError, r"Invalid beta parameter at index 1: -0.1"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.9), "weight_decay": 0.02},
    reference=ReferenceLamb,
)
