from tests._db import ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.05, "weight_decay": 0.1},
        {"beta2_decay": -0.5, "eps": (1e-30, 1e-2), "d": 2.0},
        {"eps": (1e-3, 1e-3), "lr": 0.02},
        {"lr": 0.03, "maximize": True, "weight_decay": 0.02},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Learning rate should be >= 0 but is: -1.0"),
        ErrorInput({"beta2_decay": 0.5}, ValueError, "beta2_decay should be <= 0 but is: 0.5"),
        ErrorInput({"eps": (-1.0, 1e-3)}, ValueError, "epsilon1 should be >= 0 but is: -1.0"),
        ErrorInput({"eps": (None, -1e-3)}, ValueError, "epsilon2 should be >= 0 but is: -0.001"),
        ErrorInput({"d": 0.5}, ValueError, "Clipping threshold d should be >= 1 but is: 0.5"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "weight_decay should be >= 0 but is: -0.1"),
    ],
    second_group={"lr": 0.02, "weight_decay": 0.05, "d": 1.5},
    # Factored (2-D and 3-D), full (1-D) and a 0-dim parameter.
    shapes=((5, 3), (4,), (2, 3, 2), ()),
)
