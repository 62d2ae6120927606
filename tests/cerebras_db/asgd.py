import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-2), ("lambd", 1e-4), ("alpha", 0.75), ("t0", 1e6), ("weight_decay", 0),
                ("maximize", False)),
    global_step=True,
    oracles=(TorchOracle(torch.optim.ASGD),),
    configs=[
        {},
        {"lr": 0.05, "t0": 2, "weight_decay": 0.1, "maximize": True},
        {"lr": 0.05, "lambd": 1e-3, "alpha": 0.5, "t0": 3, "weight_decay": 0.1, "maximize": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"weight_decay": -0.5}, ValueError, "Invalid weight_decay value: -0.5"),
        *not_taken("ASGD", "foreach", "capturable", "differentiable"),
    ],
    second_group={"lr": 0.02, "lambd": 5e-4, "alpha": 0.6, "weight_decay": 0.01},
)
