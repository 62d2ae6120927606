import torch

from tests._db import REQUIRED, CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", REQUIRED), ("momentum", 0), ("dampening", 0), ("weight_decay", 0), ("nesterov", False),
                ("maximize", False)),
    oracles=(TorchOracle(torch.optim.SGD),),
    configs=[
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.5},
        {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05},
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05, "maximize": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": 0.1, "momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
        ErrorInput({"lr": 0.1, "nesterov": True}, ValueError,
                   "Nesterov momentum requires a momentum and zero dampening"),
        ErrorInput({}, TypeError, r"SGD\.__init__\(\) missing a required argument: 'lr'"),
        *not_taken("SGD", "foreach", "fused", "differentiable", lr=0.1),
    ],
    second_group={"lr": 0.02, "weight_decay": 0.01},
)
