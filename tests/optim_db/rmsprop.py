import torch

from tests._db import COMPILED_RULE, ErrorInput, OptimizerInputs


def _valid_centered_states(states: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Centered RMSprop takes sqrt(square_avg - grad_avg**2): keep that well above zero."""
    if "grad_avg" not in states:
        return states
    return {**states, "square_avg": states["square_avg"] + states["grad_avg"] ** 2}


ENTRY = OptimizerInputs(
    configs=[
        {},
        {"lr": 0.005, "alpha": 0.9, "eps": 1e-6},
        {"lr": 0.005, "weight_decay": 0.1},
        {"lr": 0.005, "momentum": 0.9},
        {"lr": 0.005, "centered": True},
        {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.05},
        {"lr": 0.005, "maximize": True, "momentum": 0.3, "centered": True},
    ],
    error_inputs=[
        ErrorInput({"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
        ErrorInput({"lr": torch.tensor([0.1, 0.2])}, ValueError, "Tensor lr must be 1-element"),
        ErrorInput({"eps": -1e-8}, ValueError, "Invalid epsilon value: -1e-08"),
        ErrorInput({"momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
        ErrorInput({"weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"alpha": -0.9}, ValueError, "Invalid alpha value: -0.9"),
        ErrorInput({"capturable": True}, AssertionError,
                   r"If capturable=True, params and state_steps must be on supported devices: "
                   r"\['cuda', 'xpu', 'hpu', 'privateuseone', 'xla'\]\.", at_step=True),
        ErrorInput({"capturable": True, "foreach": True}, AssertionError,
                   r"If capturable=True, params and state_steps must be on supported devices", at_step=True),
    ],
    second_group={"lr": 0.002, "alpha": 0.95, "momentum": 0.0, "weight_decay": 0.01},
    gradcheck_states=_valid_centered_states,
    rounding={"fused": COMPILED_RULE},
)
