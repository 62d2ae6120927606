from __future__ import annotations

import pytest
import torch

from optimkit.optim import Adadelta
from tests._harness import (
    assert_params_close,
    drive_in_lockstep,
    reload_with_numbers,
    stream_grads,
    twin_params,
    using_default_dtype,
)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    ours_p, theirs_p = twin_params([(4, 3), (5,)])
    kwargs = {"lr": torch.tensor([0.7]), "rho": 0.85, "weight_decay": 0.01, "foreach": foreach}
    ours, theirs = Adadelta(ours_p, **kwargs), torch.optim.Adadelta(theirs_p, **kwargs)
    drive_in_lockstep((ours, theirs), (ours_p, theirs_p), 12, stream_grads(11))
    assert_params_close(ours_p, theirs_p)


def test_matches_an_independent_reference() -> None:
    """Zeiler's update written out per element (with torch's lr scale and L2 weight decay)."""
    lr, rho, eps, wd = 0.8, 0.9, 1e-3, 0.02
    w = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = Adadelta([w], lr=lr, rho=rho, eps=eps, weight_decay=wd)
    ref, v, u = [0.5, -1.5, 2.0], [0.0] * 3, [0.0] * 3
    g = torch.Generator().manual_seed(3)
    for _ in range(10):
        grad = torch.randn(3, dtype=torch.float64, generator=g)
        w.grad = grad
        opt.step()
        for i in range(3):
            gi = grad[i].item() + wd * ref[i]
            v[i] = rho * v[i] + (1 - rho) * gi * gi
            delta = ((u[i] + eps) ** 0.5 / (v[i] + eps) ** 0.5) * gi
            u[i] = rho * u[i] + (1 - rho) * delta * delta
            ref[i] -= lr * delta
    torch.testing.assert_close(w.detach(), torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(opt.state[w]["acc_delta"], torch.tensor(u, dtype=torch.float64), rtol=1e-12, atol=1e-14)


def test_state_keys_order_and_sparsify_names() -> None:
    w = torch.zeros(3, 2, requires_grad=True)
    opt = Adadelta([w])
    assert len(opt.state) == 0  # lazy, as torch
    opt.preinitialize()
    assert list(opt.state[w]) == ["step", "square_avg", "acc_delta"]
    assert opt.state_names_to_sparsify() == ["square_avg", "acc_delta"]


def test_step_dtype_follows_the_default_dtype_like_torch() -> None:
    with using_default_dtype(torch.float64):
        for cls in (Adadelta, torch.optim.Adadelta):
            w = torch.zeros(2, requires_grad=True)
            opt = cls([w])
            w.grad = torch.ones(2)
            opt.step()
            assert opt.state[w]["step"].dtype == torch.float64
            assert opt.state[w]["step"].device.type == "cpu"


def test_sparse_gradients_are_refused_like_torch() -> None:
    for cls in (Adadelta, torch.optim.Adadelta):
        w = torch.zeros(3, 2, requires_grad=True)
        opt = cls([w])
        w.grad = torch.sparse_coo_tensor(torch.tensor([[1]]), torch.ones(1, 2), (3, 2))
        with pytest.raises(RuntimeError, match="Adadelta does not support sparse gradients"):
            opt.step()


def test_old_checkpoint_with_number_step_is_upgraded() -> None:
    w = torch.zeros(2, requires_grad=True)
    opt = Adadelta([w])
    w.grad = torch.ones(2)
    opt.step()
    reload_with_numbers(opt, w, step=3)  # a checkpoint written before steps became tensors
    assert torch.is_tensor(opt.state[w]["step"]) and opt.state[w]["step"].item() == 3
