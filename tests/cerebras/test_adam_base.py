"""``optimkit.cerebras.optim.AdamBase``: the common base of the Cerebras Adam and AdamW.

As Cerebras documents them, Adam's ``load_state_dict`` loads ``torch.optim.Adam`` checkpoints and
AdamW's loads Hugging Face ``transformers.AdamW`` checkpoints (an integer ``step``; groups with only
``lr``, ``betas``, ``eps``, ``weight_decay`` and ``correct_bias``). Each kind of checkpoint is
loaded after some steps of its optimizer, then training goes on, and every step must match the
oracle's continuation: torch's own optimizer where it has the algorithm, the per-element reference
of tests/cerebras/_references.py for AdamW without bias correction.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import Tensor

import optimkit.cerebras.optim as cs
from tests.cerebras._references import adamw_no_correction_reference, as_tensor

BEFORE, AFTER = 4, 6  # steps before the checkpoint is taken, and after it is loaded
RTOL, ATOL = 1e-12, 1e-14  # float64: the implementations may differ by rounding only


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, dtype=torch.float64, generator=g)) for shape in [(3, 4), (5,), (2, 3)]]


def _grads(params: list[Tensor], steps: int, seed: int = 1) -> list[list[Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, dtype=p.dtype, generator=g) for p in params] for _ in range(steps)]


def _copies(params: list[Tensor]) -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(p.detach().clone()) for p in params]


def _step(opt: torch.optim.Optimizer, params: list[Tensor], grads: list[Tensor]) -> None:
    for p, grad in zip(params, grads):
        p.grad = grad.clone()
    opt.step()


def _close(actual: Any, expected: Any, what: str) -> None:
    torch.testing.assert_close(torch.as_tensor(actual), torch.as_tensor(expected), rtol=RTOL, atol=ATOL,
                               msg=lambda m: f"{what}: {m}")


def _continue_alike(ours: torch.optim.Optimizer, our_params: list[Tensor], oracle: torch.optim.Optimizer,
                    oracle_params: list[Tensor], all_grads: list[list[Tensor]]) -> None:
    """Step both through ``all_grads``; parameters and every state of the oracle agree each step."""
    for step, grads in enumerate(all_grads, start=1):
        _step(ours, our_params, grads)
        _step(oracle, oracle_params, grads)
        for index, (a, b) in enumerate(zip(our_params, oracle_params)):
            _close(a.detach(), b.detach(), f"parameter {index}, {step} steps after loading")
            for key, value in oracle.state[b].items():
                _close(ours.state[a][key], value, f"state {key!r} of parameter {index}, {step} steps after loading")


def test_adam_and_adamw_share_adam_base() -> None:
    assert issubclass(cs.Adam, cs.AdamBase) and issubclass(cs.AdamW, cs.AdamBase)
    assert not any(issubclass(cls, cs.AdamBase) for cls in (cs.SGD, cs.Adamax, cs.NAdam, cs.RAdam, cs.Lamb, cs.Adafactor))
    assert issubclass(cs.AdamBase, torch.optim.Optimizer) and issubclass(cs.AdamBase, cs.Optimizer)
    with pytest.raises(TypeError, match="abstract"):
        cs.AdamBase([torch.nn.Parameter(torch.ones(1))], {})


# ---------------------------------------------------------------- torch.optim.Adam -> Adam
TORCH_ADAM_CONFIGS = [
    {},
    {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1},
    {"lr": 0.02, "weight_decay": 0.05, "amsgrad": True},
]


def _case_id(config: dict[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in config.items()) or "defaults"


@pytest.mark.parametrize("python_step", [False, True], ids=["tensor-step", "python-step"])
@pytest.mark.parametrize("config", TORCH_ADAM_CONFIGS, ids=_case_id)
def test_adam_loads_a_torch_adam_checkpoint(config: dict[str, Any], python_step: bool) -> None:
    oracle_params = _params()
    all_grads = _grads(oracle_params, BEFORE + AFTER)
    oracle = torch.optim.Adam(oracle_params, **config)
    for grads in all_grads[:BEFORE]:
        _step(oracle, oracle_params, grads)
    checkpoint = copy.deepcopy(oracle.state_dict())
    if python_step:  # torch before 1.12 saved `step` as a number
        for state in checkpoint["state"].values():
            state["step"] = int(state["step"].item())
    our_params = _copies(oracle_params)
    ours = cs.Adam(our_params, lr=0.5, eps=0.1)  # the checkpoint's options replace these
    ours.load_state_dict(checkpoint)
    group = ours.param_groups[0]
    assert (group["lr"], group["eps"], group["amsgrad"]) == (config.get("lr", 1e-3), config.get("eps", 1e-8),
                                                             config.get("amsgrad", False))
    assert ours.state[our_params[0]]["step"].dtype == torch.float32 and ours.state[our_params[0]]["step"].item() == BEFORE
    _continue_alike(ours, our_params, oracle, oracle_params, all_grads[BEFORE:])
    assert ours.state[our_params[0]]["step"].item() == BEFORE + AFTER


# --------------------------------------------------- Hugging Face transformers.AdamW -> AdamW
def _hugging_face_checkpoint(groups: list[dict[str, Any]], states: list[dict[str, Tensor]], step: int) -> dict[str, Any]:
    """The ``state_dict()`` of ``transformers.AdamW``: an int ``step``, ``exp_avg``, ``exp_avg_sq``;
    each group's ``lr``, ``betas``, ``eps``, ``weight_decay``, ``correct_bias`` and nothing else."""
    state = {index: {"step": step, "exp_avg": s["exp_avg"].clone(), "exp_avg_sq": s["exp_avg_sq"].clone()}
             for index, s in enumerate(states)}
    keys = ("lr", "betas", "eps", "weight_decay", "correct_bias", "params")
    return {"state": state, "param_groups": [{key: group[key] for key in keys} for group in groups]}


def test_adamw_loads_a_hugging_face_checkpoint() -> None:
    """Two groups: BERT's Adam (``correct_bias=False``), checked against the per-element reference,
    and a bias-corrected group, checked against torch.optim.AdamW, which is that algorithm."""
    params = _params()
    all_grads = _grads(params, BEFORE + AFTER)
    bert = {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.05, "correct_bias": False, "params": [0]}
    corrected = {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-7, "weight_decay": 0.1, "correct_bias": True,
                 "params": [1, 2]}

    # The BERT group: the reference's whole trajectory; its state after BEFORE steps is the checkpoint's.
    flat = [p.detach().reshape(-1).tolist() for p in params[:1]]
    reference = adamw_no_correction_reference(
        flat[0], [grads[0].reshape(-1).tolist() for grads in all_grads], lr=bert["lr"], beta1=bert["betas"][0],
        beta2=bert["betas"][1], eps=bert["eps"], weight_decay=bert["weight_decay"])
    bert_state = {key: as_tensor(values[BEFORE - 1]).reshape(params[0].shape) for key, values in reference.state.items()}
    bert_param = as_tensor(reference.params[BEFORE - 1]).reshape(params[0].shape)

    # The corrected group: torch.optim.AdamW trained BEFORE steps, and then goes on as the oracle.
    oracle_params = _copies(params[1:])
    oracle = torch.optim.AdamW(oracle_params, lr=corrected["lr"], betas=corrected["betas"], eps=corrected["eps"],
                               weight_decay=corrected["weight_decay"])
    for grads in all_grads[:BEFORE]:
        _step(oracle, oracle_params, grads[1:])

    checkpoint = _hugging_face_checkpoint([bert, corrected], [bert_state] + [oracle.state[p] for p in oracle_params],
                                          BEFORE)
    our_params = [torch.nn.Parameter(bert_param.clone())] + _copies(oracle_params)
    ours = cs.AdamW([{"params": our_params[:1]}, {"params": our_params[1:]}])  # Cerebras' defaults until loaded
    ours.load_state_dict(checkpoint)

    for group, saved in zip(ours.param_groups, (bert, corrected)):
        assert {key: group[key] for key in ("lr", "betas", "eps", "weight_decay", "correct_bias")} == {
            key: saved[key] for key in ("lr", "betas", "eps", "weight_decay", "correct_bias")}
        # What transformers.AdamW does not have: its algorithm's values.
        assert (group["amsgrad"], group["maximize"], group["decoupled_weight_decay"]) == (False, False, True)
    for p in our_params:
        assert ours.state[p]["step"].dtype == torch.float32 and ours.state[p]["step"].item() == BEFORE

    for step, grads in enumerate(all_grads[BEFORE:], start=BEFORE + 1):
        _step(ours, our_params, grads)
        _step(oracle, oracle_params, grads[1:])
        _close(our_params[0].detach().reshape(-1), as_tensor(reference.params[step - 1]), f"BERT group, step {step}")
        for key, values in reference.state.items():
            _close(ours.state[our_params[0]][key].reshape(-1), as_tensor(values[step - 1]), f"{key!r}, step {step}")
        for index, (a, b) in enumerate(zip(our_params[1:], oracle_params), start=1):
            _close(a.detach(), b.detach(), f"parameter {index}, step {step}")
            for key in ("exp_avg", "exp_avg_sq", "step"):
                _close(ours.state[a][key], oracle.state[b][key], f"state {key!r} of parameter {index}, step {step}")


def test_adam_reads_a_hugging_face_checkpoint_as_adam() -> None:
    """Cerebras' Adam always corrects the bias and adds the weight decay to the gradient: a
    ``correct_bias=False`` in the checkpoint is ignored. torch.optim.Adam, loading the same dict
    (it ignores that key too), is the oracle."""
    params = _params()
    all_grads = _grads(params, BEFORE + AFTER)
    source = cs.AdamW(params, lr=0.01, weight_decay=0.1, correct_bias=False)
    for grads in all_grads[:BEFORE]:
        _step(source, params, grads)
    group = {**source.param_groups[0], "params": [0, 1, 2]}
    checkpoint = _hugging_face_checkpoint([group], [source.state[p] for p in params], BEFORE)
    our_params, oracle_params = _copies(params), _copies(params)
    ours, oracle = cs.Adam(our_params), torch.optim.Adam(oracle_params)
    ours.load_state_dict(copy.deepcopy(checkpoint))
    oracle.load_state_dict(copy.deepcopy(checkpoint))
    assert "correct_bias" not in ours.param_groups[0] and ours.param_groups[0]["decoupled_weight_decay"] is False
    assert checkpoint["param_groups"][0]["correct_bias"] is False  # the caller's dict is left alone
    _continue_alike(ours, our_params, oracle, oracle_params, all_grads[BEFORE:])


def test_adamw_loads_a_torch_adamw_checkpoint_with_bias_correction() -> None:
    oracle_params = _params()
    all_grads = _grads(oracle_params, BEFORE + AFTER)
    oracle = torch.optim.AdamW(oracle_params, lr=0.01, eps=1e-6, weight_decay=0.1)
    for grads in all_grads[:BEFORE]:
        _step(oracle, oracle_params, grads)
    our_params = _copies(oracle_params)
    ours = cs.AdamW(our_params, correct_bias=False)
    ours.load_state_dict(copy.deepcopy(oracle.state_dict()))
    assert ours.param_groups[0]["correct_bias"] is True  # torch's AdamW corrects: so does its checkpoint
    _continue_alike(ours, our_params, oracle, oracle_params, all_grads[BEFORE:])


def test_cerebras_own_checkpoints_are_rejected_untouched() -> None:
    """Cerebras' Adam family keeps beta1^t and beta2^t instead of ``step``: not this layout."""
    w = torch.nn.Parameter(torch.ones(3))
    opt = cs.AdamW([w], lr=0.01)
    before = copy.deepcopy(opt.state_dict())
    native = {
        "state": {0: {"exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3), "beta1_power": torch.tensor(0.9**4),
                      "beta2_power": torch.tensor(0.999**4)}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0,
                          "l2_regularization_rate": 0.0, "correct_bias": True, "amsgrad": False, "params": [0]}],
    }
    with pytest.raises(ValueError, match=r"'beta1_power', 'beta2_power' that AdamW does not keep"):
        opt.load_state_dict(native)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.state_dict()["state"].keys() == before["state"].keys()
