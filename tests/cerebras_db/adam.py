import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0.0), ("amsgrad", False)),
    oracles=(TorchOracle(torch.optim.Adam),),
    configs=[
        {},
        {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1},
        {"lr": 0.01, "amsgrad": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        *not_taken("Adam", "foreach", "fused", "differentiable", "maximize", "decoupled_weight_decay"),
    ],
    # Every per-group option differs from the first group's (AMSGrad in one group only).
    second_group={"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True},
    supports_maximize=False,
)
