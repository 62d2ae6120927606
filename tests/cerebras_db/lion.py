from tests._db import CerebrasInputs, ErrorInput, not_taken
from tests.cerebras._references import ElementOracle, lion_reference

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-4), ("betas", (0.9, 0.99)), ("weight_decay", 0.0)),
    # torch.optim has no Lion.
    oracles=(ElementOracle(lion_reference),),
    configs=[
        {},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.1},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"betas": (0.9, 1.5)}, ValueError, r"Invalid beta parameter at index 1: 1.5"),
        ErrorInput({"weight_decay": -1.0}, ValueError, "Invalid weight_decay value: -1.0"),
        *not_taken("Lion", "foreach", "differentiable", "maximize"),
    ],
    second_group={"lr": 0.002, "betas": (0.95, 0.98), "weight_decay": 0.2},
    supports_maximize=False,
)
