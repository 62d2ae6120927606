from tests._db import ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.02, "weight_decay": 0.0},
        {"lr": 0.02, "nesterov": False, "momentum": 0.9},
        {"lr": 0.01, "adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.05},
        {"lr": 0.01, "adjust_lr_fn": "original", "ns_steps": 3, "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-5},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Learning rate should be >= 0 but is: -1.0"),
        ErrorInput({"momentum": -0.5}, ValueError, "momentum should be >= 0 but is: -0.5"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "weight decay should be >= 0 but is: -0.1"),
        ErrorInput({"adjust_lr_fn": "sqrt"}, ValueError, "Adjust learning rate function sqrt is not supported"),
        ErrorInput({"ns_steps": 100}, ValueError, "Number of steps must be less than 100 for computational efficiency",
                   at_step=True),
        ErrorInput({"ns_coefficients": (1.0, 2.0)}, ValueError, "Coefficients must be a tuple of exactly 3 values",
                   at_step=True),
    ],
    second_group={"lr": 0.005, "weight_decay": 0.2, "momentum": 0.8},
    # Muon takes matrices only: wide, tall and square ones.
    shapes=((5, 3), (4, 6), (3, 3)),
    supports_maximize=False,
)
