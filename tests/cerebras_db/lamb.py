from tests._db import CerebrasInputs, ErrorInput, not_taken
from tests.cerebras._references import ElementOracle, lamb_reference

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0), ("adam", False)),
    # torch.optim has no Lamb.
    oracles=(ElementOracle(lamb_reference),),
    configs=[
        {},
        {"lr": 0.01, "weight_decay": 0.1},
        {"adam": True},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "adam": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"eps": -1e-6}, ValueError, "Invalid epsilon value: -1e-06"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        *not_taken("Lamb", "foreach", "differentiable", "maximize"),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.9), "weight_decay": 0.02},
    supports_maximize=False,
)
