import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken
from tests.cerebras._references import ElementOracle, adamw_no_correction_reference

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0.0), ("correct_bias", True),
                ("amsgrad", False)),
    # torch's AdamW always corrects the bias; without, it is the optimizer of the original BERT.
    oracles=(TorchOracle(torch.optim.AdamW, fixed={"correct_bias": True}),
             ElementOracle(adamw_no_correction_reference, fixed={"correct_bias": False})),
    configs=[
        {},
        {"lr": 0.01, "weight_decay": 0.1, "correct_bias": False},
        {"amsgrad": True},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1, "correct_bias": True},
        {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True},
        {"correct_bias": False},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1, "correct_bias": False},
        {"lr": 0.01, "weight_decay": 0.1, "correct_bias": False, "amsgrad": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"betas": (0.9, 1.5)}, ValueError, r"Invalid beta parameter at index 1: 1.5"),
        ErrorInput({"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
        *not_taken("AdamW", "foreach", "fused", "differentiable", "maximize"),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.95), "weight_decay": 0.01},
    supports_maximize=False,
)
