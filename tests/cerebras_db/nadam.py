import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 2e-3), ("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 0),
                ("momentum_decay", 4e-3)),
    global_step=True,
    oracles=(TorchOracle(torch.optim.NAdam),),
    configs=[
        {},
        {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1, "momentum_decay": 0.02},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"momentum_decay": -0.2}, ValueError, "Invalid momentum_decay value: -0.2"),
        *not_taken("NAdam", "foreach", "differentiable", "maximize", "decoupled_weight_decay"),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.95), "weight_decay": 0.01, "momentum_decay": 0.01},
    supports_maximize=False,
)
