"""NAdam beyond the generic database tests: the differentiable and capturable arithmetic, a
Tensor lr, ``mu_product`` and old checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from optimkit.optim import NAdam
from tests._harness import (
    FLOAT32_STEP_SIZES,
    TOLERANCES,
    allow_capturable_on_cpu,
    assert_states_close,
    clone_params,
    differentiable_steps,
    every_third_step,
    meta_start,
    mixed_params,
    run_against_torch,
    stream_grads,
    using_default_dtype,
)


@pytest.mark.parametrize(
    "options",
    [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True}, {"maximize": True}],
    ids=["plain", "l2", "decoupled", "maximize"],
)
def test_differentiable_arithmetic_matches_torch(options: dict) -> None:
    """differentiable=True computes the step sizes from the float32 ``mu_product`` tensor."""
    run_against_torch(NAdam, lr=0.01, differentiable=True, **options).assert_close()


def test_gradients_reach_the_initial_weights_and_a_tensor_lr() -> None:
    """Through three differentiable steps (checked numerically). torch's own NAdam cannot do this
    with a Tensor lr that requires grad: its for-loop overwrites a tensor autograd saved."""

    def three_steps(base: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return differentiable_steps(NAdam, base, 3, lr=lr, weight_decay=0.1, decoupled_weight_decay=True)

    base = meta_start()
    lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(three_steps, (base, lr))
    assert torch.autograd.grad(three_steps(base, lr).sum(), lr)[0].abs() > 0


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_matches_torch(monkeypatch: pytest.MonkeyPatch, foreach: bool) -> None:
    """capturable=True keeps every scalar in 0-dim tensors (here on the CPU). Our arithmetic is
    torch's for-loop one; torch's foreach version orders its float32 scalar work differently, so
    against it only float32 rounding of the step sizes may differ."""
    allow_capturable_on_cpu(monkeypatch, torch.optim.NAdam)
    run = run_against_torch(NAdam, lr=0.01, weight_decay=0.05, capturable=True, foreach=foreach)
    run.assert_close(FLOAT32_STEP_SIZES if foreach else TOLERANCES[torch.float64])


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    run = run_against_torch(NAdam, lr=torch.tensor(0.01), weight_decay=0.1, foreach=foreach)
    # torch's for-loop rounds the step sizes in lr's float32; its foreach version reads lr first.
    run.assert_close(FLOAT32_STEP_SIZES if foreach else TOLERANCES[torch.float64], states=False)


def test_mu_product_is_the_running_product_of_the_momentum_schedule() -> None:
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    beta1, psi = 0.9, 0.3
    opt = NAdam([w], betas=(beta1, 0.999), momentum_decay=psi)
    for _ in range(7):
        w.grad = torch.ones(3, dtype=torch.float64)
        opt.step()
    expected = math.prod(beta1 * (1 - 0.5 * 0.96 ** (t * psi)) for t in range(1, 8))
    mu_product = opt.state[w]["mu_product"]
    assert mu_product.dtype == torch.float32 and mu_product.device.type == "cpu" and mu_product.dim() == 0
    assert mu_product.item() == pytest.approx(expected, rel=1e-6)


def test_first_step_against_a_plain_reference() -> None:
    """One step from zero state, worked out by hand: m_1 = (1-b1) g, v_1 = (1-b2) g^2."""
    beta1, beta2, psi, lr, eps = 0.9, 0.999, 4e-3, 0.1, 1e-8
    g = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = NAdam([w], lr=lr, betas=(beta1, beta2), eps=eps, momentum_decay=psi)
    w.grad = g.clone()
    opt.step()
    mu1 = beta1 * (1 - 0.5 * 0.96 ** psi)
    mu2 = beta1 * (1 - 0.5 * 0.96 ** (2 * psi))
    product = float(torch.tensor(mu1, dtype=torch.float32))  # mu_product is kept in float32
    m, v = (1 - beta1) * g, (1 - beta2) * g * g
    denom = (v / (1 - beta2)).sqrt() + eps
    expected = -lr * (1 - mu1) / (1 - product) * g / denom - lr * mu2 / (1 - product * mu2) * m / denom
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=1e-14)


def test_state_dtypes_follow_a_float64_default_dtype() -> None:
    with using_default_dtype(torch.float64):
        ours, theirs, opt_a, opt_b = run_against_torch(NAdam, steps=3)
    assert_states_close(opt_a, opt_b, TOLERANCES[torch.float64])
    assert opt_a.state[ours[0]]["mu_product"].dtype == torch.float64


def test_old_checkpoint_with_number_step_and_mu_product() -> None:
    """Checkpoints from before `step` and `mu_product` became tensors still load, as in torch."""
    run = run_against_torch(NAdam, steps=4, lr=0.01)
    run.load_old_checkpoint("step", "mu_product")
    for opt in (run.ours, run.theirs):
        assert all(torch.is_tensor(s["mu_product"]) for s in opt.state.values())
    run.drive(4, stream_grads(5, skip=every_third_step()))
    run.assert_close()


def test_preinitialize_and_sparsify_names() -> None:
    params = mixed_params()
    opt = NAdam(clone_params(params))
    opt.preinitialize()
    p = opt.param_groups[0]["params"][0]
    assert list(opt.state[p]) == ["step", "mu_product", "exp_avg", "exp_avg_sq"]
    assert opt.state[p]["mu_product"].item() == 1.0
    assert opt.state_names_to_sparsify() == ["exp_avg", "exp_avg_sq"]
