import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0.0)),
    global_step=True,
    oracles=(TorchOracle(torch.optim.RAdam),),
    # beta2 = 0.999: rho_t first exceeds 5 at step 6, so the steps cover both branches.
    configs=[
        {},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        *not_taken("RAdam", "foreach", "differentiable", "maximize", "decoupled_weight_decay"),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.99), "weight_decay": 0.01},
    supports_maximize=False,
)
