from __future__ import annotations

import pytest
import torch

from optimkit.optim import Adamax
from tests._harness import assert_params_close, drive_in_lockstep, stream_grads, twin_params, using_default_dtype


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    """torch's for-loop divides the float32 lr tensor, its foreach version a Python float: the two
    differ by ~1e-8 relative, and each of ours matches its own."""
    ours_p, theirs_p = twin_params([(4, 3), (5,)])
    kwargs = {"lr": torch.tensor(0.01), "betas": (0.8, 0.95), "foreach": foreach}
    ours, theirs = Adamax(ours_p, **kwargs), torch.optim.Adamax(theirs_p, **kwargs)
    drive_in_lockstep((ours, theirs), (ours_p, theirs_p), 12, stream_grads(11))
    assert_params_close(ours_p, theirs_p)


def test_matches_an_independent_reference() -> None:
    """Kingma & Ba's Adamax written out per element, with torch's eps inside the max."""
    lr, beta1, beta2, eps, wd = 0.05, 0.85, 0.97, 1e-3, 0.01
    w = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = Adamax([w], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
    ref, m, u = [0.5, -1.5, 2.0], [0.0] * 3, [0.0] * 3
    g = torch.Generator().manual_seed(3)
    for t in range(1, 11):
        grad = torch.randn(3, dtype=torch.float64, generator=g) * (0.0 if t == 4 else 1.0)
        w.grad = grad
        opt.step()
        for i in range(3):
            gi = grad[i].item() + wd * ref[i]
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            u[i] = max(beta2 * u[i], abs(gi) + eps)
            ref[i] -= lr / (1 - beta1**t) * m[i] / u[i]
    torch.testing.assert_close(w.detach(), torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(opt.state[w]["exp_inf"], torch.tensor(u, dtype=torch.float64), rtol=1e-12, atol=1e-14)


def test_state_keys_order_and_sparsify_names() -> None:
    w = torch.zeros(3, 2, requires_grad=True)
    opt = Adamax([w])
    assert len(opt.state) == 0  # lazy, as torch
    opt.preinitialize()
    assert list(opt.state[w]) == ["step", "exp_avg", "exp_inf"]
    assert opt.state_names_to_sparsify() == ["exp_avg", "exp_inf"]


def test_sparse_gradients_are_refused_like_torch() -> None:
    for cls in (Adamax, torch.optim.Adamax):
        w = torch.zeros(3, 2, requires_grad=True)
        opt = cls([w])
        w.grad = torch.sparse_coo_tensor(torch.tensor([[1]]), torch.ones(1, 2), (3, 2))
        with pytest.raises(RuntimeError, match="Adamax does not support sparse gradients"):
            opt.step()


def test_step_dtype_follows_the_default_dtype_like_torch() -> None:
    with using_default_dtype(torch.float64):
        for cls in (Adamax, torch.optim.Adamax):
            w = torch.zeros(2, requires_grad=True)
            opt = cls([w])
            w.grad = torch.ones(2)
            opt.step()
            assert opt.state[w]["step"].dtype == torch.float64
