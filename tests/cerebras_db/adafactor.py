from tests._db import REQUIRED, CerebrasInputs, ErrorInput, not_taken
from tests.cerebras._references import ElementOracle, hf_adafactor_reference

ENTRY = CerebrasInputs(
    documented=(("lr", REQUIRED), ("eps", (1e-30, 1e-3)), ("clip_threshold", 1.0), ("decay_rate", -0.8),
                ("beta1", None), ("weight_decay", 0.0), ("scale_parameter", True), ("relative_step", False),
                ("warmup_init", False)),
    global_step=True,
    # Hugging Face's algorithm, which torch.optim.Adafactor is not.
    oracles=(ElementOracle(hf_adafactor_reference, tensors=True),),
    group_foreach=True,
    configs=[
        {"lr": 1e-2},
        {"lr": 1e-2, "beta1": 0.9, "weight_decay": 0.1, "scale_parameter": False},
        {"lr": None, "relative_step": True, "warmup_init": True, "clip_threshold": 0.5},
        {"lr": 0.05, "beta1": 0.9, "weight_decay": 0.1, "scale_parameter": False},
        {"lr": 0.05, "clip_threshold": 0.3, "decay_rate": -0.5, "eps": (1e-3, 1e-2)},
        {"lr": None, "relative_step": True},
        {"lr": None, "relative_step": True, "warmup_init": True, "beta1": 0.5},
    ],
    error_inputs=[
        ErrorInput({"lr": 0.1, "relative_step": True}, ValueError,
                   "Cannot combine manual `lr` and `relative_step=True`"),
        ErrorInput({"lr": 0.1, "warmup_init": True}, ValueError, "`warmup_init=True` requires `relative_step=True`"),
        ErrorInput({"lr": 0.1, "eps": (1e-30,)}, ValueError, "tuple/list of two floats"),
        ErrorInput({"lr": 0.1, "clip_threshold": 0.0}, ValueError, "Invalid clip_threshold value: 0.0"),
        ErrorInput({"lr": 0.1, "beta1": 1.0}, ValueError, "Invalid beta1 value: 1.0"),
        ErrorInput({"lr": 0.1, "weight_decay": -0.1}, ValueError, "Invalid weight_decay value: -0.1"),
        ErrorInput({"lr": None}, ValueError, "Learning rate is not set", at_step=True),
        *not_taken("Adafactor", "foreach", "maximize", lr=0.1),
    ],
    second_group={"decay_rate": -0.6, "weight_decay": 0.02},
    supports_maximize=False,
    # Factored (2-D and 3-D), full (1-D) and a 0-dim parameter.
    shapes=((5, 3), (4,), (2, 3, 2), ()),
)
