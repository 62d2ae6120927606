"""Lamb: against the plain reference in tests/optim/_references.py, and its defining properties."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch

from optimkit.optim import Lamb
from tests._harness import TOLERANCES, assert_params_close, clone_params, drive_in_lockstep, stream_grads
from tests.optim._references import ReferenceLamb
from tests.optim._regression import regression_loss_ratio

CONFIGS = [
    {"lr": 0.01},
    {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1},
    {"lr": 0.02, "adam": True, "weight_decay": 0.05},
    {"lr": 0.02, "maximize": True},
]


def _params(seed: int = 0) -> list[torch.Tensor]:
    """Shapes of several ranks; one with a norm well above 10 (the cap on the weight norm is
    active) and one that starts at zero (its first trust ratio falls back to 1)."""
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(4, 3, dtype=torch.float64, generator=g),
        20 * torch.randn(6, dtype=torch.float64, generator=g),
        torch.zeros(2, 2, 2, dtype=torch.float64),
        torch.randn(3, 2, dtype=torch.complex128, generator=g),
    ]


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_trajectory_equals_reference_for_20_steps(config: dict[str, Any], foreach: bool) -> None:
    base = _params()
    ours, theirs = clone_params(base), clone_params(base)
    opt = Lamb(ours, foreach=foreach, **config)
    ref = ReferenceLamb(theirs, **config)
    drive_in_lockstep((opt, ref), (ours, theirs), 20, stream_grads(1))
    assert_params_close(ours, theirs, TOLERANCES[torch.float64])
    for a, b in zip(ours, theirs):
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(opt.state[a][key], ref.state[b][key], **TOLERANCES[torch.float64])
        assert opt.state[a]["step"].item() == 20
    assert not torch.equal(ours[0].detach(), base[0])


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_reduces_a_regression_loss_tenfold_in_200_steps(weight_decay: float) -> None:
    ratio = regression_loss_ratio(lambda params: Lamb(params, lr=0.05, weight_decay=weight_decay))
    assert ratio >= 10, ratio


@pytest.mark.parametrize("scale", [0.3, 2.0, 50.0])
def test_step_length_is_lr_times_capped_weight_norm(scale: float) -> None:
    """With the trust ratio phi(||w||) / ||u||, every step moves w by exactly lr * min(||w||, 10)."""
    g = torch.Generator().manual_seed(2)
    w = (scale * torch.randn(7, dtype=torch.float64, generator=g)).requires_grad_()
    norm_before = torch.linalg.vector_norm(w.detach()).item()
    before = w.detach().clone()
    opt = Lamb([w], lr=0.01, weight_decay=0.1)
    w.grad = torch.randn(7, dtype=torch.float64, generator=g)
    opt.step()
    moved = torch.linalg.vector_norm(w.detach() - before).item()
    assert moved == pytest.approx(0.01 * min(norm_before, 10.0), rel=1e-12)


def test_adam_flag_takes_the_unscaled_step_without_bias_correction() -> None:
    """adam=True: trust ratio 1, so the first step is lr * (1 - b1) g / (sqrt((1 - b2) g^2) + eps)."""
    w = torch.full((3,), 5.0, dtype=torch.float64, requires_grad=True)
    grad = torch.tensor([0.5, -2.0, 1e-3], dtype=torch.float64)
    beta1, beta2, eps, lr = 0.9, 0.999, 1e-6, 0.1
    opt = Lamb([w], lr=lr, betas=(beta1, beta2), eps=eps, adam=True)
    w.grad = grad
    opt.step()
    expected = 5.0 - lr * (1 - beta1) * grad / ((1 - beta2) ** 0.5 * grad.abs() + eps)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=0)


def test_zero_weights_take_the_unscaled_step() -> None:
    """||w|| = 0: trust ratio 1, the same first step as adam=True (not a zero step)."""
    grad = torch.tensor([1.0, -3.0], dtype=torch.float64)
    results = []
    for adam in (False, True):
        w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        opt = Lamb([w], lr=0.1, adam=adam)
        w.grad = grad.clone()
        opt.step()
        results.append(w.detach())
    assert results[0].abs().min() > 0
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


@pytest.mark.parametrize("foreach", [False, True])
def test_zero_update_leaves_weights_finite_and_unchanged(foreach: bool) -> None:
    """||u|| = 0 (zero gradient, no weight decay): trust ratio 1, not weight_norm / 0."""
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = Lamb([w], lr=0.1, foreach=foreach)
    w.grad = torch.zeros(2, dtype=torch.float64)
    opt.step()
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0], dtype=torch.float64))


def test_state_keys_dtypes_and_sparsify_names() -> None:
    w = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    opt = Lamb([w])
    assert opt.state_names_to_sparsify() == ["exp_avg", "exp_avg_sq"]
    opt.preinitialize()
    state = opt.state[w]
    assert list(state) == ["step", "exp_avg", "exp_avg_sq"]
    # `step` like torch's Adam: a 0-dim CPU float32 tensor (float64 only when that is the default).
    assert state["step"].shape == () and state["step"].dtype == torch.float32 and state["step"].device.type == "cpu"
    assert state["exp_avg"].dtype == torch.float64 and state["exp_avg"].shape == w.shape
    w.grad = torch.ones_like(w)
    opt.step()
    assert list(opt.state[w]) == ["step", "exp_avg", "exp_avg_sq"] and state["step"].item() == 1


def test_signature_is_cerebras_plus_keyword_only_flags() -> None:
    parameters = inspect.signature(Lamb.__init__).parameters
    positional = [(n, p.default) for n, p in parameters.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == [("self", inspect.Parameter.empty), ("params", inspect.Parameter.empty), ("lr", 1e-3),
                          ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0), ("adam", False)]
    keyword_only = {n: p.default for n, p in parameters.items() if p.kind == p.KEYWORD_ONLY}
    assert keyword_only == {"foreach": None, "maximize": False, "differentiable": False, "state_dtype": None,
                            "stochastic_rounding": None}


def test_sparse_gradients_are_rejected() -> None:
    w = torch.zeros(3, requires_grad=True)
    opt = Lamb([w])
    w.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="Lamb does not support sparse gradients"):
        opt.step()
