import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 1.0), ("rho", 0.9), ("eps", 1e-6), ("weight_decay", 0), ("maximize", False)),
    oracles=(TorchOracle(torch.optim.Adadelta),),
    configs=[
        {},
        {"lr": 0.5, "weight_decay": 0.1, "maximize": True},
        {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1, "maximize": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"rho": 1.5}, ValueError, "Invalid rho value: 1.5"),
        ErrorInput({"eps": -1e-6}, ValueError, "Invalid epsilon value: -1e-06"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        *not_taken("Adadelta", "foreach", "capturable", "differentiable"),
    ],
    second_group={"lr": 0.7, "rho": 0.95, "weight_decay": 0.02},
)
