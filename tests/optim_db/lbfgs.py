from tests._db import ErrorInput, OptimizerInputs

ENTRY = OptimizerInputs(
    # The default history (100 pairs) over 30 steps of 20 iterations makes the two-loop recursion
    # slow; small histories fill up and exercise the shifting. tests/optim/test_lbfgs.py runs
    # the defaults on the Rosenbrock function.
    configs=[
        {"max_iter": 5, "history_size": 10},
        {"lr": 0.5, "history_size": 3, "max_iter": 8},
        {"max_iter": 1},
        {"max_iter": 4, "max_eval": 6, "tolerance_grad": 1e-3, "tolerance_change": 1e-5},
        {"history_size": 10, "max_iter": 8, "line_search_fn": "strong_wolfe"},
        {"lr": 0.8, "max_iter": 5, "history_size": 2, "line_search_fn": "strong_wolfe"},
        {"max_iter": 3, "max_eval": 2, "line_search_fn": "strong_wolfe"},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ],
    # One parameter group only, step(closure) only, and no maximize argument.
    second_group=None,
    needs_closure=True,
    supports_maximize=False,
)
