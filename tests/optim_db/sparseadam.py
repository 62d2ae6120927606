import torch

from tests._db import ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6},
        {"lr": 0.02, "maximize": True},
        {"lr": torch.tensor(0.005), "betas": (0.5, 0.99)},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        # Unlike Adam, a zero learning rate or epsilon is refused too.
        ErrorInput({"lr": 0.0}, ValueError, "Invalid learning rate: 0.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"eps": 0.0}, ValueError, "Invalid epsilon value: 0.0"),
        ErrorInput({"betas": (1.0, 0.999)}, ValueError, r"Invalid beta parameter at index 0: 1.0"),
        ErrorInput({"betas": (0.9, -0.1)}, ValueError, r"Invalid beta parameter at index 1: -0.1"),
        ErrorInput({}, RuntimeError, "SparseAdam does not support dense gradients, please consider Adam instead",
                   at_step=True),
    ],
    second_group={"lr": 0.005, "betas": (0.85, 0.95), "eps": 1e-7},
    sparse_grads=True,
)
