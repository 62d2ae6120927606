import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-2), ("alpha", 0.99), ("eps", 1e-8), ("weight_decay", 0), ("momentum", 0),
                ("centered", False)),
    oracles=(TorchOracle(torch.optim.RMSprop),),
    configs=[
        {},
        {"momentum": 0.9, "centered": True, "weight_decay": 0.1},
        {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.7},
        {"momentum": 0.5, "centered": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
        ErrorInput({"alpha": -0.9}, ValueError, "Invalid alpha value: -0.9"),
        *not_taken("RMSprop", "foreach", "differentiable", "maximize"),
    ],
    second_group={"lr": 0.002, "alpha": 0.95, "momentum": 0.0, "weight_decay": 0.01},
    supports_maximize=False,
)
