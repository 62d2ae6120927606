"""NAdam beyond the generic database tests: the differentiable and capturable arithmetic, a
Tensor lr, ``mu_product`` and old checkpoints."""

from __future__ import annotations

import copy
import math
import sys

import pytest
import torch

from optimkit.optim import NAdam
from tests.optim._torch_compare import (
    allow_capturable_on_cpu,
    assert_close,
    assert_same_states,
    clone,
    make_params,
    run_pair,
    step_both,
)


@pytest.mark.parametrize(
    "options",
    [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True}, {"maximize": True}],
    ids=["plain", "l2", "decoupled", "maximize"],
)
def test_differentiable_arithmetic_matches_torch(options: dict) -> None:
    """differentiable=True computes the step sizes from the float32 ``mu_product`` tensor."""
    ours, theirs, opt_a, opt_b = run_pair(NAdam, lr=0.01, differentiable=True, **options)
    assert_close(ours, theirs)
    assert_same_states(opt_a, opt_b)


def test_gradients_reach_the_initial_weights_and_a_tensor_lr() -> None:
    """Through three differentiable steps (checked numerically). torch's own NAdam cannot do this
    with a Tensor lr that requires grad: its for-loop overwrites a tensor autograd saved."""

    def three_steps(base: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        w = base.clone()
        opt = NAdam([w], lr=lr, weight_decay=0.1, decoupled_weight_decay=True, differentiable=True)
        for step in range(3):
            w.grad = torch.cos(torch.arange(6, dtype=torch.float64).reshape(2, 3) * (step + 1))
            opt.step()
        return w

    base = torch.linspace(-1.0, 1.0, 6, dtype=torch.float64).reshape(2, 3).requires_grad_()
    lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(three_steps, (base, lr))
    assert torch.autograd.grad(three_steps(base, lr).sum(), lr)[0].abs() > 0


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_matches_torch(monkeypatch: pytest.MonkeyPatch, foreach: bool) -> None:
    """capturable=True keeps every scalar in 0-dim tensors (here on the CPU). Our arithmetic is
    torch's for-loop one; torch's foreach version orders its float32 scalar work differently, so
    against it only float32 rounding of the step sizes may differ."""
    allow_capturable_on_cpu(monkeypatch, sys.modules[torch.optim.NAdam.__module__])
    ours, theirs, opt_a, opt_b = run_pair(NAdam, lr=0.01, weight_decay=0.05, capturable=True, foreach=foreach)
    tolerance = {"rtol": 1e-7, "atol": 1e-9} if foreach else {"rtol": 1e-10, "atol": 1e-12}
    assert_close(ours, theirs, **tolerance)
    assert_same_states(opt_a, opt_b, **tolerance)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    ours, theirs, opt_a, opt_b = run_pair(NAdam, lr=torch.tensor(0.01), weight_decay=0.1, foreach=foreach)
    # torch's for-loop rounds the step sizes in lr's float32; its foreach version reads lr first.
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if not foreach else {"rtol": 1e-7, "atol": 1e-9}
    assert_close(ours, theirs, **tolerance)


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
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ours, theirs, opt_a, opt_b = run_pair(NAdam, steps=3)
    finally:
        torch.set_default_dtype(previous)
    assert_same_states(opt_a, opt_b)
    assert opt_a.state[ours[0]]["mu_product"].dtype == torch.float64


def test_old_checkpoint_with_number_step_and_mu_product() -> None:
    """Checkpoints from before `step` and `mu_product` became tensors still load, as in torch."""
    ours, theirs, opt_a, opt_b = run_pair(NAdam, steps=4, lr=0.01)
    saved = opt_b.state_dict()
    for state in saved["state"].values():
        state["step"] = state["step"].item()
        state["mu_product"] = state["mu_product"].item()
    # Separate copies: loading keeps tensors of the right dtype and device as they are.
    opt_a.load_state_dict(copy.deepcopy(saved))
    opt_b.load_state_dict(copy.deepcopy(saved))
    for opt in (opt_a, opt_b):
        assert all(torch.is_tensor(s["mu_product"]) for s in opt.state.values())
    step_both(opt_a, opt_b, ours, theirs, steps=4, seed=5)
    assert_close(ours, theirs)
    assert_same_states(opt_a, opt_b)


def test_preinitialize_and_sparsify_names() -> None:
    params = make_params()
    opt = NAdam(clone(params))
    opt.preinitialize()
    p = opt.param_groups[0]["params"][0]
    assert list(opt.state[p]) == ["step", "mu_product", "exp_avg", "exp_avg_sq"]
    assert opt.state[p]["mu_product"].item() == 1.0
    assert opt.state_names_to_sparsify() == ["exp_avg", "exp_avg_sq"]
