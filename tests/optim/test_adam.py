from __future__ import annotations

import pytest
import torch

from optimkit.optim import Adam, AdamW


def _pair(cls_ours: type, cls_theirs: type, **kwargs: object) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.optim.Optimizer, torch.optim.Optimizer]:
    g = torch.Generator().manual_seed(0)
    base = [torch.randn(5, dtype=torch.float64, generator=g), torch.randn(2, 3, dtype=torch.float64, generator=g)]
    ours = [b.clone().requires_grad_() for b in base]
    theirs = [b.clone().requires_grad_() for b in base]
    return ours, theirs, cls_ours(ours, **kwargs), cls_theirs(theirs, **kwargs)


def _run(pairs: tuple, steps: int = 20) -> None:
    ours, theirs, opt_a, opt_b = pairs
    g = torch.Generator().manual_seed(7)
    for _ in range(steps):
        for a, b in zip(ours, theirs):
            grad = torch.randn(a.shape, dtype=a.dtype, generator=g)
            a.grad, b.grad = grad, grad.clone()
        opt_a.step()
        opt_b.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_tensor_lr_and_betas_match_torch(cls: str) -> None:
    kwargs = {"lr": torch.tensor(0.01), "betas": (torch.tensor(0.8), torch.tensor(0.95)), "foreach": False}
    _run(_pair({"Adam": Adam, "AdamW": AdamW}[cls], getattr(torch.optim, cls), **kwargs))


def test_tensor_betas_are_stored_as_tensors() -> None:
    opt = Adam([torch.zeros(2, requires_grad=True)], betas=(torch.tensor([0.8]), torch.tensor([0.9])))
    beta1, beta2 = opt.param_groups[0]["betas"]
    assert isinstance(beta1, torch.Tensor) and beta1.dim() == 0


def test_mixed_betas_are_rejected() -> None:
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        Adam([torch.zeros(2, requires_grad=True)], betas=(torch.tensor(0.8), 0.9))


def test_tensor_lr_with_foreach_needs_capturable() -> None:
    with pytest.raises(ValueError, match="lr as a Tensor is not supported for capturable=False and foreach=True"):
        Adam([torch.zeros(2, requires_grad=True)], lr=torch.tensor(0.1), foreach=True)


def test_capturable_on_cpu_raises_like_torch() -> None:
    for cls in (Adam, torch.optim.Adam):
        w = torch.zeros(2, requires_grad=True)
        opt = cls([w], capturable=True)
        w.grad = torch.ones(2)
        with pytest.raises(AssertionError, match="capturable=True"):
            opt.step()


@pytest.mark.parametrize("fused", [False, True])
def test_step_state_dtype_and_device(fused: bool) -> None:
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    ours = Adam([w], fused=fused)
    w.grad = torch.ones(3, dtype=torch.float64)
    ours.step()
    theirs_w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    theirs = torch.optim.Adam([theirs_w], fused=fused)
    theirs_w.grad = torch.ones(3, dtype=torch.float64)
    theirs.step()
    assert ours.state[w]["step"].dtype == theirs.state[theirs_w]["step"].dtype
    assert ours.state[w]["step"].device == theirs.state[theirs_w]["step"].device
    assert ours.state[w]["step"].item() == 1.0


def test_step_is_float64_when_that_is_the_default_dtype() -> None:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        w = torch.zeros(2, requires_grad=True)
        opt = Adam([w])
        opt.preinitialize()
        assert opt.state[w]["step"].dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)


def test_old_state_dict_with_float_step_is_upgraded() -> None:
    w = torch.zeros(2, requires_grad=True)
    opt = Adam([w])
    w.grad = torch.ones(2)
    opt.step()
    state = opt.__getstate__()
    state["state"][w]["step"] = 3  # a checkpoint written before steps became tensors
    opt.__setstate__(state)
    assert torch.is_tensor(opt.state[w]["step"]) and opt.state[w]["step"].item() == 3


def test_adamw_decouples_weight_decay() -> None:
    """With a zero gradient, AdamW only shrinks the weights: w * (1 - lr * wd)."""
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros(3, dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((3,), 0.95, dtype=torch.float64))
