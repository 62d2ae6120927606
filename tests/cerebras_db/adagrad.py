import torch

from tests._db import CerebrasInputs, ErrorInput, TorchOracle, not_taken

ENTRY = CerebrasInputs(
    documented=(("lr", 1e-2), ("lr_decay", 0), ("weight_decay", 0), ("initial_accumulator_value", 0), ("eps", 1e-6),
                ("maximize", False)),
    global_step=True,
    oracles=(TorchOracle(torch.optim.Adagrad),),
    configs=[
        {},
        {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1},
        {"lr": 0.05, "lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.02, "eps": 1e-4,
         "maximize": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr_decay": -0.5}, ValueError, "Invalid lr_decay value: -0.5"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"initial_accumulator_value": -1.0}, ValueError,
                   "Invalid initial_accumulator_value value: -1.0"),
        ErrorInput({"eps": -1e-10}, ValueError, "Invalid epsilon value: -1e-10"),
        *not_taken("Adagrad", "foreach", "fused", "differentiable"),
    ],
    second_group={"lr": 0.02, "lr_decay": 0.02, "weight_decay": 0.05},
    eager_state=True,
)
