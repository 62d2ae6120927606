import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-3), ("etas", (0.5, 1.2)), ("step_sizes", (1e-6, 50.0))),
    oracles=(TorchOracle(torch.optim.Rprop),),
    configs=[
        {},
        {"lr": 0.01, "etas": (0.4, 1.3), "step_sizes": (1e-4, 1.0)},
        {"lr": 0.01, "etas": (0.4, 1.3), "step_sizes": (1e-4, 0.02)},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"etas": (1.0, 1.2)}, ValueError, "Invalid eta values: 1.0, 1.2"),
        *not_taken("Rprop", "foreach", "differentiable", "maximize"),
    ],
    second_group={"lr": 0.005, "etas": (0.3, 1.1), "step_sizes": (1e-5, 0.5)},
    supports_maximize=False,
)
