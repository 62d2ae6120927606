from __future__ import annotations

import pytest
import torch

from optimkit.optim import SGD


def _params(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, dtype=torch.float64, generator=g).requires_grad_() for _ in range(3)]


def _grads(step: int, params: list[torch.Tensor]) -> list[torch.Tensor | None]:
    g = torch.Generator().manual_seed(1000 + step)
    return [None if (i == 2 and step < 3) else torch.randn(p.shape, dtype=p.dtype, generator=g) for i, p in enumerate(params)]


@pytest.mark.parametrize("dampening", [0.0, 0.4])
def test_fused_handles_a_parameter_whose_first_gradient_comes_late(dampening: float) -> None:
    """torch's fused SGD fails here (it hands its kernel a None buffer); ours splits first and
    running buffers and matches the for-loop."""
    loop_params, fused_params = _params(), _params()
    loop = SGD(loop_params, lr=0.1, momentum=0.9, dampening=dampening, foreach=False)
    fused = SGD(fused_params, lr=0.1, momentum=0.9, dampening=dampening, fused=True)
    for step in range(8):
        for a, b, g in zip(loop_params, fused_params, _grads(step, loop_params)):
            a.grad = g
            b.grad = None if g is None else g.clone()
        loop.step()
        fused.step()
    for a, b in zip(loop_params, fused_params):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    ours_params, theirs_params = _params(), _params()
    ours = SGD(ours_params, lr=torch.tensor(0.05), momentum=0.9, foreach=foreach)
    theirs = torch.optim.SGD(theirs_params, lr=torch.tensor(0.05), momentum=0.9, foreach=foreach)
    for step in range(5):
        for a, b, g in zip(ours_params, theirs_params, _grads(step, ours_params)):
            a.grad = g
            b.grad = None if g is None else g.clone()
        ours.step()
        theirs.step()
    for a, b in zip(ours_params, theirs_params):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert isinstance(ours.param_groups[0]["lr"], torch.Tensor)


def test_tensor_lr_must_have_one_element() -> None:
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        SGD(_params(), lr=torch.tensor([0.1, 0.2]))


def test_no_momentum_keeps_no_state() -> None:
    params = _params()
    opt = SGD(params, lr=0.1)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    assert opt.state_dict()["state"] == {}
    opt.preinitialize()
    assert opt.state_dict()["state"] == {}


def test_preinitialized_buffer_still_takes_the_first_step_rule() -> None:
    """The first step copies the gradient into the buffer (no dampening), also when the buffer
    was allocated ahead of time."""
    (w,) = _params()[:1]
    opt = SGD([w], lr=0.0, momentum=0.9, dampening=0.5)
    opt.preinitialize()
    w.grad = torch.full_like(w, 2.0)
    opt.step()
    assert torch.equal(opt.state[w]["momentum_buffer"], torch.full_like(w, 2.0))
    opt.step()
    assert torch.equal(opt.state[w]["momentum_buffer"], torch.full_like(w, 0.9 * 2.0 + 0.5 * 2.0))


def test_differentiable_step_tracks_tensor_weight_decay() -> None:
    w = torch.randn(3, dtype=torch.float64)
    decay = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    p = w.clone().requires_grad_()
    q = p.clone()
    q.grad = torch.ones(3, dtype=torch.float64)
    SGD([q], lr=0.5, weight_decay=decay, differentiable=True).step()
    q.sum().backward()
    # d/d(decay) of sum(q - lr * (g + decay * q)) = -lr * sum(q)
    torch.testing.assert_close(decay.grad, -0.5 * w.sum())
