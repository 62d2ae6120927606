"""ASGD beyond the generic database tests: an element-by-element reference, the meaning of the
average, capturable mode, state layout and torch's errors."""

from __future__ import annotations

import struct

import pytest
import torch

from optimkit.optim import ASGD
from tests._harness import (
    TOLERANCES,
    allow_capturable_on_cpu,
    assert_params_close,
    clone_params,
    drive_in_lockstep,
    random_params,
    reload_with_numbers,
    stream_grads,
    using_default_dtype,
)


def _f32(x: float) -> float:
    """``x`` rounded to float32 (eta and mu are float32 tensors under the default dtype)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _reference(theta: list[float], grads: list[list[float]], *, lr: float, lambd: float, alpha: float,
               t0: float, weight_decay: float, maximize: bool) -> tuple[list[float], list[float], float, float]:
    """ASGD per element with Python floats, from its definition."""
    theta = list(theta)
    average = [0.0] * len(theta)
    eta, mu = _f32(lr), 1.0
    for t, grad in enumerate(grads, start=1):
        for i, g in enumerate(grad):
            g = (-g if maximize else g) + weight_decay * theta[i]
            theta[i] = theta[i] * (1 - lambd * eta) - eta * g
            average[i] = theta[i] if mu == 1 else average[i] + mu * (theta[i] - average[i])
        eta = _f32(lr / (1 + lambd * lr * t) ** alpha)
        mu = _f32(1 / max(1, t - t0))
    return theta, average, eta, mu


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.01, "lambd": 1e-4, "alpha": 0.75, "t0": 1e6, "weight_decay": 0.0, "maximize": False},
        {"lr": 0.1, "lambd": 0.05, "alpha": 0.5, "t0": 4, "weight_decay": 0.0, "maximize": False},
        {"lr": 0.05, "lambd": 1e-2, "alpha": 0.9, "t0": 7, "weight_decay": 0.2, "maximize": True},
    ],
)
def test_matches_elementwise_reference(options: dict, foreach: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(10, dtype=torch.float64, generator=generator)
    grads = [torch.randn(10, dtype=torch.float64, generator=generator) for _ in range(20)]
    w = start.clone().requires_grad_()
    opt = ASGD([w], foreach=foreach, **options)
    for grad in grads:
        w.grad = grad.clone()
        opt.step()
    theta, average, eta, mu = _reference(start.tolist(), [g.tolist() for g in grads], **options)
    # The foreach path computes eta in float32 arithmetic, as torch's does: a looser tolerance.
    tol = {"rtol": 1e-6, "atol": 1e-7} if foreach else {"rtol": 1e-12, "atol": 1e-14}
    torch.testing.assert_close(w.detach(), torch.tensor(theta, dtype=torch.float64), **tol)
    torch.testing.assert_close(opt.state[w]["ax"], torch.tensor(average, dtype=torch.float64), **tol)
    assert opt.state[w]["eta"].item() == pytest.approx(eta, rel=1e-6 if foreach else 0)
    assert opt.state[w]["mu"].item() == mu
    assert opt.state[w]["step"].item() == 20


def test_average_is_the_mean_of_the_iterates_after_t0() -> None:
    """mu = 1 / max(1, t - t0) makes ``ax`` the plain mean of the iterates from step t0 + 2 on."""
    t0 = 3
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = ASGD([w], lr=0.1, t0=t0)
    generator = torch.Generator().manual_seed(5)
    iterates = []
    for _ in range(12):
        w.grad = torch.randn(4, dtype=torch.float64, generator=generator)
        opt.step()
        iterates.append(w.detach().clone())
    expected = torch.stack(iterates[t0 + 1:]).mean(dim=0)
    # mu is stored in float32, so 1/3, 1/5, ... carry float32 rounding.
    torch.testing.assert_close(opt.state[w]["ax"], expected, rtol=1e-6, atol=1e-7)


def _train(cls: type, base: list[torch.Tensor], steps: int,
           **kwargs: object) -> tuple[list[torch.Tensor], torch.optim.Optimizer]:
    """A copy of ``base`` trained on its own for ``steps`` steps, on gradients drawn from seed 11."""
    params = clone_params(base)
    opt = cls(params, **kwargs)
    drive_in_lockstep((opt,), (params,), steps, stream_grads(11))
    return params, opt


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_matches_torch(monkeypatch: pytest.MonkeyPatch, foreach: bool) -> None:
    allow_capturable_on_cpu(monkeypatch, torch.optim.ASGD)
    base = random_params([(3, 4), (6,)], seed=2, requires_grad=False)
    kwargs = {"lr": 0.05, "lambd": 1e-2, "alpha": 0.6, "t0": 4, "weight_decay": 0.1}
    ours, ours_opt = _train(ASGD, base, 15, capturable=True, foreach=foreach, **kwargs)
    # Our capturable rule follows the order of operations of torch's capturable for-loop.
    loop, loop_opt = _train(torch.optim.ASGD, base, 15, capturable=True, foreach=False, **kwargs)
    assert_params_close(ours, loop, TOLERANCES[torch.float64])
    for p, q in zip(ours, loop):
        for key in ("step", "eta", "mu", "ax"):
            torch.testing.assert_close(ours_opt.state[p][key], loop_opt.state[q][key], rtol=1e-6, atol=1e-9)
    # torch's capturable foreach orders the float32 eta arithmetic differently: close, not equal.
    their_foreach, _ = _train(torch.optim.ASGD, base, 15, capturable=True, foreach=True, **kwargs)
    assert_params_close(ours, their_foreach, {"rtol": 1e-5, "atol": 1e-7})
    # And capturable changes where the numbers live, not what they are.
    plain, _ = _train(ASGD, base, 15, foreach=foreach, **kwargs)
    assert_params_close(ours, plain, {"rtol": 1e-5, "atol": 1e-7})


def test_state_layout_matches_torch() -> None:
    base = [torch.randn(2, 3, dtype=torch.float64)]
    ours, ours_opt = _train(ASGD, base, 2, lr=0.2)
    theirs, their_opt = _train(torch.optim.ASGD, base, 2, lr=0.2)
    assert list(ours_opt.state[ours[0]]) == list(their_opt.state[theirs[0]]) == ["step", "eta", "mu", "ax"]
    for key, value in their_opt.state[theirs[0]].items():
        mine = ours_opt.state[ours[0]][key]
        assert (mine.dtype, mine.device, mine.shape) == (value.dtype, value.device, value.shape), key
        torch.testing.assert_close(mine, value, rtol=0, atol=0)


def test_counters_are_float64_when_that_is_the_default_dtype() -> None:
    with using_default_dtype(torch.float64):
        w = torch.zeros(2, requires_grad=True)
        opt = ASGD([w], lr=0.3)
        opt.preinitialize()
        assert [opt.state[w][key].dtype for key in ("step", "eta", "mu")] == [torch.float64] * 3
        assert opt.state[w]["eta"].item() == 0.3


def test_preinitialize_and_sparsify_names() -> None:
    w = torch.nn.Parameter(torch.ones(4))
    opt = ASGD([w], lr=torch.tensor([0.25]))
    assert opt.state_names_to_sparsify() == ["ax"]
    opt.preinitialize()
    assert list(opt.state[w]) == ["step", "eta", "mu", "ax"]
    assert opt.state[w]["eta"].dim() == 0 and opt.state[w]["eta"].item() == 0.25


@pytest.mark.parametrize("cls", [ASGD, torch.optim.ASGD])
def test_sparse_gradient_is_rejected(cls: type) -> None:
    w = torch.zeros(3, requires_grad=True)
    opt = cls([w])
    w.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="^ASGD does not support sparse gradients$"):
        opt.step()


def test_numbers_from_old_checkpoint_are_upgraded() -> None:
    w = torch.zeros(2, requires_grad=True)
    opt = ASGD([w])
    w.grad = torch.ones(2)
    opt.step()
    reload_with_numbers(opt, w, step=4, eta=0.5, mu=1.0)
    for key, value in (("step", 4.0), ("eta", 0.5), ("mu", 1.0)):
        tensor = opt.state[w][key]
        assert torch.is_tensor(tensor) and tensor.item() == value and tensor.dtype == torch.float32, key
