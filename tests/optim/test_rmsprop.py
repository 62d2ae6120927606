"""RMSprop beyond the generic database tests: optional states, positional flags, the
differentiable and capturable paths, a Tensor lr and old checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from optimkit.optim import RMSprop
from tests._harness import (
    TOLERANCES,
    Lockstep,
    allow_capturable_on_cpu,
    clone_params,
    differentiable_steps,
    every_third_step,
    meta_start,
    mixed_params,
    run_against_torch,
    stream_grads,
)


def _reference_rmsprop(w0: list[float], grads: list[list[float]], *, lr: float, alpha: float, eps: float,
                       momentum: float, centered: bool) -> list[float]:
    """RMSprop element by element in plain Python floats."""
    w = list(w0)
    square = [0.0] * len(w)
    mean = [0.0] * len(w)
    buf = [0.0] * len(w)
    for g_t in grads:
        for i, g in enumerate(g_t):
            square[i] = alpha * square[i] + (1 - alpha) * g * g
            variance = square[i]
            if centered:
                mean[i] = alpha * mean[i] + (1 - alpha) * g
                variance -= mean[i] ** 2
            scaled = g / (math.sqrt(variance) + eps)
            if momentum > 0:
                buf[i] = momentum * buf[i] + scaled
                w[i] -= lr * buf[i]
            else:
                w[i] -= lr * scaled
    return w


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.9, False), (0.0, True), (0.5, True)])
def test_matches_a_plain_reference(momentum: float, centered: bool, foreach: bool) -> None:
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(6, dtype=torch.float64, generator=g)
    grads = [torch.randn(6, dtype=torch.float64, generator=g) for _ in range(15)]
    w = w0.clone().requires_grad_()
    opt = RMSprop([w], lr=0.01, alpha=0.9, momentum=momentum, centered=centered, foreach=foreach)
    for grad in grads:
        w.grad = grad.clone()
        opt.step()
    expected = _reference_rmsprop(w0.tolist(), [grad.tolist() for grad in grads], lr=0.01, alpha=0.9, eps=1e-8,
                                  momentum=momentum, centered=centered)
    torch.testing.assert_close(w.detach(), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "momentum,centered,keys",
    [
        (0.0, False, ["step", "square_avg"]),
        (0.9, False, ["step", "square_avg", "momentum_buffer"]),
        (0.0, True, ["step", "square_avg", "grad_avg"]),
        (0.9, True, ["step", "square_avg", "momentum_buffer", "grad_avg"]),
    ],
)
def test_optional_states_in_torchs_order(momentum: float, centered: bool, keys: list[str]) -> None:
    ours, theirs, opt_a, opt_b = run_against_torch(RMSprop, steps=2, momentum=momentum, centered=centered)
    assert list(opt_b.state[theirs[0]]) == keys
    assert list(opt_a.state[ours[0]]) == keys
    fresh = RMSprop(clone_params(mixed_params()), momentum=momentum, centered=centered)
    fresh.preinitialize()
    assert list(fresh.state[fresh.param_groups[0]["params"][0]]) == keys
    assert fresh.state_names_to_sparsify() == keys[1:]


def test_flags_are_positional_as_in_torch() -> None:
    """torch's RMSprop has no keyword-only marker: capturable, foreach, maximize, differentiable
    can be passed by position."""
    args = (0.01, 0.9, 1e-6, 0.01, 0.5, True, False, False, True, False)
    ours = mixed_params()
    theirs = clone_params(ours)
    run = Lockstep(ours, theirs, RMSprop(ours, *args), torch.optim.RMSprop(theirs, *args))
    assert run.ours.param_groups[0]["maximize"] is True
    run.drive(10, stream_grads(1, skip=every_third_step()))
    run.assert_close(states=False)


@pytest.mark.parametrize(
    "options",
    [{}, {"weight_decay": 0.1, "momentum": 0.9}, {"centered": True, "momentum": 0.5}, {"maximize": True}],
    ids=["plain", "momentum", "centered", "maximize"],
)
def test_differentiable_arithmetic_matches_torch(options: dict) -> None:
    run_against_torch(RMSprop, lr=0.01, differentiable=True, **options).assert_close()


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_meta_gradient_to_the_initial_weights_matches_torch(momentum: float) -> None:
    """Through six differentiable steps. (Not centered: torch's centered for-loop overwrites
    `grad_avg` after autograd saved it, so its backward through several steps fails.)"""
    results = []
    for cls in (RMSprop, torch.optim.RMSprop):
        base = meta_start()
        w = differentiable_steps(cls, base, 6, lr=0.05, momentum=momentum, weight_decay=0.1)
        results.append(torch.autograd.grad((w**2).sum(), base)[0])
    torch.testing.assert_close(results[0], results[1], **TOLERANCES[torch.float64])


@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("centered", [False, True])
def test_gradients_reach_the_weights_and_a_tensor_lr(momentum: float, centered: bool) -> None:
    """Through three differentiable steps (checked numerically). A Tensor lr that requires grad
    takes part in the update (torch's for-loop raises a TypeError here instead)."""

    def three_steps(base: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return differentiable_steps(RMSprop, base, 3, lr=lr, momentum=momentum, centered=centered)

    base = meta_start()
    lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(three_steps, (base, lr))
    assert torch.autograd.grad(three_steps(base, lr).sum(), lr)[0].abs() > 0


@pytest.mark.parametrize("lr", [0.01, torch.tensor(0.01)], ids=["float", "tensor"])
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_capturable_matches_torch(monkeypatch: pytest.MonkeyPatch, foreach: bool, momentum: float,
                                  lr: float | torch.Tensor) -> None:
    """capturable=True (here on the CPU) keeps a Tensor lr on the device instead of reading it."""
    allow_capturable_on_cpu(monkeypatch, torch.optim.RMSprop)
    run = run_against_torch(RMSprop, lr=lr, momentum=momentum, centered=True, capturable=True, foreach=foreach)
    run.assert_close()
    assert run.ours.state[run.ours_params[0]]["step"].device.type == "cpu"


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    run_against_torch(RMSprop, lr=torch.tensor(0.01), momentum=0.5, foreach=foreach).assert_close()


def test_old_checkpoint_with_number_step() -> None:
    run = run_against_torch(RMSprop, steps=4, momentum=0.9, centered=True)
    run.load_old_checkpoint("step")
    assert all(torch.is_tensor(s["step"]) for s in run.ours.state.values())
    run.drive(4, stream_grads(5, skip=every_third_step()))
    run.assert_close()


def test_momentum_switched_on_after_the_state_exists() -> None:
    """A scheduler cycling momentum on a group built with momentum=0 (OneCycleLR), or state made
    up front (preinitialize, the Cerebras facades): the buffer starts at zero, as it would have in
    a state made with momentum, and the step is the for-loop's (torch raises KeyError instead)."""
    import optimkit.optim as ok

    torch.manual_seed(0)
    late = torch.nn.Parameter(torch.randn(5))
    fresh = torch.nn.Parameter(late.detach().clone())
    switched = ok.RMSprop([late], lr=0.01, momentum=0.0)
    switched.preinitialize()
    switched.param_groups[0]["momentum"] = 0.9
    reference = ok.RMSprop([fresh], lr=0.01, momentum=0.9)
    for _ in range(3):
        grad = torch.randn(5)
        late.grad, fresh.grad = grad.clone(), grad.clone()
        switched.step()
        reference.step()
    assert torch.equal(late, fresh)
    assert torch.equal(switched.state[late]["momentum_buffer"], reference.state[fresh]["momentum_buffer"])
