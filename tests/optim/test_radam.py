"""RAdam beyond the generic database tests: the rectification switch against a plain
reference, the differentiable and capturable arithmetic, a Tensor lr and old checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from optimkit.optim import RAdam
from tests._harness import (
    FLOAT32_STEP_SIZES,
    TOLERANCES,
    allow_capturable_on_cpu,
    differentiable_steps,
    every_third_step,
    meta_start,
    run_against_torch,
    stream_grads,
)


def _reference_radam(w0: list[float], grads: list[list[float]], *, lr: float, beta1: float, beta2: float,
                     eps: float, weight_decay: float, decoupled: bool) -> tuple[list[float], list[bool]]:
    """RAdam element by element in plain Python floats, straight from the paper's algorithm
    (with torch's threshold rho_t > 5). Returns the weights and, per step, whether it rectified."""
    w = list(w0)
    m = [0.0] * len(w)
    v = [0.0] * len(w)
    rho_inf = 2 / (1 - beta2) - 1
    rectified = []
    for t, g_t in enumerate(grads, start=1):
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        rectified.append(rho_t > 5)
        for i in range(len(w)):
            g = g_t[i]
            if weight_decay and decoupled:
                w[i] *= 1 - lr * weight_decay
            elif weight_decay:
                g += weight_decay * w[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1**t)
            if rho_t > 5:
                r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                w[i] -= lr * m_hat * r * math.sqrt(1 - beta2**t) / (math.sqrt(v[i]) + eps)
            else:
                w[i] -= lr * m_hat
    return w, rectified


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(
    "options",
    [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled": True}, {"betas": (0.8, 0.9)}],
    ids=["plain", "l2", "decoupled", "fast-beta2"],
)
def test_matches_a_plain_reference_across_the_rectification_switch(options: dict, foreach: bool) -> None:
    beta1, beta2 = options.get("betas", (0.9, 0.999))
    lr, eps, weight_decay = 0.01, 1e-8, options.get("weight_decay", 0.0)
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(5, dtype=torch.float64, generator=g)
    grads = [torch.randn(5, dtype=torch.float64, generator=g) for _ in range(12)]

    w = w0.clone().requires_grad_()
    opt = RAdam([w], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                decoupled_weight_decay=options.get("decoupled", False), foreach=foreach)
    for grad in grads:
        w.grad = grad.clone()
        opt.step()

    expected, rectified = _reference_radam(
        w0.tolist(), [grad.tolist() for grad in grads], lr=lr, beta1=beta1, beta2=beta2, eps=eps,
        weight_decay=weight_decay, decoupled=options.get("decoupled", False),
    )
    # Both branches were exercised: warm-up steps first, rectified Adam steps after.
    assert not rectified[0] and rectified[-1]
    torch.testing.assert_close(w.detach(), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-14)


def test_warm_up_steps_are_bias_corrected_momentum() -> None:
    """With beta2 = 0.999, rho_t first exceeds 5 at step 6: steps 1-5 move by -lr * m_hat."""
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = RAdam([w], lr=0.1, betas=(0.9, 0.999))
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for t in range(1, 7):
        before = w.detach().clone()
        w.grad = g.clone()
        opt.step()
        moved = w.detach() - before
        m_hat = g  # a constant gradient: the bias-corrected mean is the gradient itself
        if t <= 5:
            torch.testing.assert_close(moved, -0.1 * m_hat, rtol=1e-12, atol=0)
        else:
            assert not torch.allclose(moved, -0.1 * m_hat)


@pytest.mark.parametrize(
    "options",
    [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True}, {"maximize": True}],
    ids=["plain", "l2", "decoupled", "maximize"],
)
def test_differentiable_arithmetic_matches_torch(options: dict) -> None:
    run_against_torch(RAdam, lr=0.01, differentiable=True, **options).assert_close()


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_meta_gradient_matches_torch(weight_decay: float) -> None:
    """Gradients through eight differentiable steps (warm-up and rectified ones) to the initial
    weights and to a Tensor lr, equal to torch's."""
    results = []
    for cls in (RAdam, torch.optim.RAdam):
        base = meta_start()
        lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
        w = differentiable_steps(cls, base, 8, lr=lr, weight_decay=weight_decay)
        results.append(torch.autograd.grad((w**2).sum(), (base, lr)))
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, **TOLERANCES[torch.float64])
    assert results[0][1].abs() > 0


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_matches_torch(monkeypatch: pytest.MonkeyPatch, foreach: bool) -> None:
    """capturable=True decides the rectification on the device with `where` (here on the CPU).
    Our arithmetic is torch's for-loop one; torch's foreach version orders its float32 scalar
    work differently, so against it only float32 rounding of the step sizes may differ."""
    allow_capturable_on_cpu(monkeypatch, torch.optim.RAdam)
    run = run_against_torch(RAdam, lr=0.01, weight_decay=0.05, capturable=True, foreach=foreach)
    run.assert_close(FLOAT32_STEP_SIZES if foreach else TOLERANCES[torch.float64])


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    run = run_against_torch(RAdam, lr=torch.tensor(0.01), weight_decay=0.1, decoupled_weight_decay=True,
                            foreach=foreach)
    # torch's foreach version multiplies the float32 lr into its per-parameter step sizes, which
    # rounds them in float32; its for-loop (our arithmetic) scales the float64 update by lr.
    run.assert_close(FLOAT32_STEP_SIZES if foreach else TOLERANCES[torch.float64])


def test_old_checkpoint_with_number_step() -> None:
    run = run_against_torch(RAdam, steps=4, lr=0.01)
    run.load_old_checkpoint("step")
    assert all(torch.is_tensor(s["step"]) for s in run.ours.state.values())
    run.drive(6, stream_grads(5, skip=every_third_step()))
    run.assert_close()


def test_state_and_sparsify_names() -> None:
    w = torch.zeros(2, 2, requires_grad=True)
    opt = RAdam([w])
    opt.preinitialize()
    assert list(opt.state[w]) == ["step", "exp_avg", "exp_avg_sq"]
    assert opt.state[w]["step"].dtype == torch.float32 and opt.state[w]["step"].device.type == "cpu"
    assert opt.state_names_to_sparsify() == ["exp_avg", "exp_avg_sq"]
