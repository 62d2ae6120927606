from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from optimkit.optim import Adam, AdamW
from tests._harness import (
    assert_params_close,
    drive_in_lockstep,
    reload_with_numbers,
    stream_grads,
    twin_params,
    using_default_dtype,
)


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_tensor_lr_and_betas_match_torch(cls: str) -> None:
    kwargs = {"lr": torch.tensor(0.01), "betas": (torch.tensor(0.8), torch.tensor(0.95)), "foreach": False}
    ours_p, theirs_p = twin_params([(5,), (2, 3)])
    ours, theirs = {"Adam": Adam, "AdamW": AdamW}[cls](ours_p, **kwargs), getattr(torch.optim, cls)(theirs_p, **kwargs)
    drive_in_lockstep((ours, theirs), (ours_p, theirs_p), 20, stream_grads(7))
    assert_params_close(ours_p, theirs_p)


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
    with using_default_dtype(torch.float64):
        w = torch.zeros(2, requires_grad=True)
        opt = Adam([w])
        opt.preinitialize()
        assert opt.state[w]["step"].dtype == torch.float64


def test_old_state_dict_with_float_step_is_upgraded() -> None:
    w = torch.zeros(2, requires_grad=True)
    opt = Adam([w])
    w.grad = torch.ones(2)
    opt.step()
    reload_with_numbers(opt, w, step=3)  # a checkpoint written before steps became tensors
    assert torch.is_tensor(opt.state[w]["step"]) and opt.state[w]["step"].item() == 3


def test_adamw_decouples_weight_decay() -> None:
    """With a zero gradient, AdamW only shrinks the weights: w * (1 - lr * wd)."""
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros(3, dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((3,), 0.95, dtype=torch.float64))


# ------------------------------------------------------------------ differentiable hyperparameters
# With differentiable=True, Tensor hyperparameters that require grad (lr, betas, weight_decay) take
# part in the graph of the update, so a loss after some steps can be differentiated with respect
# to them (meta-learning of hyperparameters). Checked numerically (gradcheck, float64) and against
# the values torch.optim computes.

_HYPER_CASES = {
    "lr": ("lr",),
    "lr_1_element": ("lr1",),
    "betas": ("beta1", "beta2"),
    "weight_decay": ("weight_decay",),
    "all": ("lr", "beta1", "beta2", "weight_decay"),
}


def _hyper_kwargs(names: tuple[str, ...], values: tuple[torch.Tensor, ...], amsgrad: bool) -> dict[str, object]:
    given = dict(zip(names, values))
    kwargs: dict[str, object] = {"differentiable": True, "amsgrad": amsgrad}
    if "lr" in given or "lr1" in given:
        kwargs["lr"] = given.get("lr", given.get("lr1"))
    if "beta1" in given:
        kwargs["betas"] = (given["beta1"], given["beta2"])
    if "weight_decay" in given:
        kwargs["weight_decay"] = given["weight_decay"]
    return kwargs


def _hyper_values(names: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
    start = {"lr": 0.01, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.3}
    return tuple(
        torch.tensor([0.01] if name == "lr1" else start[name], dtype=torch.float64, requires_grad=True)
        for name in names
    )


def _quadratic_grad(w: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = ((w - target) ** 2 * torch.arange(1.0, w.numel() + 1, dtype=torch.float64)).sum()
    (grad,) = torch.autograd.grad(loss, w, create_graph=True)
    return grad


def _unrolled_loss(optimizer_cls: type, names: tuple[str, ...], amsgrad: bool, start: torch.Tensor,
                   *hyper: torch.Tensor) -> torch.Tensor:
    """Three steps on a quadratic whose gradients are built with create_graph=True, then the loss
    at the final point: a function of the hyperparameters through every step."""
    w = start.detach().requires_grad_().clone()  # a non-leaf: the steps update it in place
    target = torch.linspace(-1.0, 1.0, w.numel(), dtype=torch.float64)
    opt = optimizer_cls([w], **_hyper_kwargs(names, hyper, amsgrad))
    for _ in range(3):
        w.grad = _quadratic_grad(w, target)
        opt.step()
    return ((w - target) ** 2).sum()


def _unrolled_reference_loss(decoupled: bool, names: tuple[str, ...], amsgrad: bool, start: torch.Tensor,
                             *hyper: torch.Tensor) -> torch.Tensor:
    """The same three steps written out of place from Adam's formulas (no optimizer at all)."""
    kwargs = _hyper_kwargs(names, hyper, amsgrad)
    lr = kwargs.get("lr", 1e-3)
    beta1, beta2 = kwargs.get("betas", (0.9, 0.999))
    decay = kwargs.get("weight_decay", 1e-2 if decoupled else 0.0)
    w = start.detach().requires_grad_().clone()
    target = torch.linspace(-1.0, 1.0, w.numel(), dtype=torch.float64)
    m = v = v_max = torch.zeros_like(w)
    for t in range(1, 4):
        g = _quadratic_grad(w, target)
        if decoupled:
            w = w * (1 - lr * decay)
        else:
            g = g + decay * w
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_max = torch.maximum(v_max, v) if amsgrad else v
        w = w - lr / (1 - beta1**t) * m / ((v_max / (1 - beta2**t)).sqrt() + 1e-8)
    return ((w - target) ** 2).sum()


@pytest.fixture
def float64_steps() -> Iterator[None]:
    """float64 as the default dtype, so that the `step` counters (float32 otherwise) and with them
    the bias corrections are float64, as in the out-of-place reference."""
    with using_default_dtype(torch.float64):
        yield


@pytest.mark.parametrize("amsgrad", [False, True], ids=["plain", "amsgrad"])
@pytest.mark.parametrize("case", list(_HYPER_CASES))
@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_gradients_flow_to_tensor_hyperparameters(cls: str, case: str, amsgrad: bool, float64_steps: None) -> None:
    """gradcheck through three differentiable steps, and the hypergradients equal those of the
    formulas written out of place, and (without AMSGrad, where torch's own differentiable step
    fails after the first step) those through torch.optim."""
    names = _HYPER_CASES[case]
    ours_cls = {"Adam": Adam, "AdamW": AdamW}[cls]
    start = torch.linspace(0.5, 2.0, 5, dtype=torch.float64)

    def ours(*hyper: torch.Tensor) -> torch.Tensor:
        return _unrolled_loss(ours_cls, names, amsgrad, start, *hyper)

    assert torch.autograd.gradcheck(ours, _hyper_values(names))

    values = _hyper_values(names)
    ours_grads = torch.autograd.grad(ours(*values), values)
    expected = [_hyper_values(names)]
    expected_grads = [torch.autograd.grad(
        _unrolled_reference_loss(cls == "AdamW", names, amsgrad, start, *expected[0]), expected[0])]
    if not amsgrad:
        expected.append(_hyper_values(names))
        expected_grads.append(torch.autograd.grad(
            _unrolled_loss(getattr(torch.optim, cls), names, amsgrad, start, *expected[1]), expected[1]))
    for grads in expected_grads:
        for name, a, b in zip(names, ours_grads, grads):
            assert a.abs().sum() > 0, f"no gradient reached {name}"
            assert a.shape == b.shape, name
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_one_differentiable_step_with_tensor_weight_decay_passes_gradcheck(cls: type, maximize: bool) -> None:
    """One step, differentiated with respect to the parameter, its gradient, the moments and a
    Tensor weight decay at once (the L2 term goes through the gradient for Adam, through the
    parameter's shrinking for AdamW)."""
    g = torch.Generator().manual_seed(0)
    inputs = tuple(torch.rand(6, dtype=torch.float64, generator=g).requires_grad_() for _ in range(4))
    decay = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)

    def update(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor,
               weight_decay: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = param.clone()
        p.grad = grad.clone()
        opt = cls([p], lr=0.1, weight_decay=weight_decay, maximize=maximize, differentiable=True)
        opt.state[p].update(step=torch.tensor(4.0, dtype=torch.float64), exp_avg=exp_avg.clone(),
                            exp_avg_sq=exp_avg_sq.clone())
        opt.step()
        return p, opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]

    assert torch.autograd.gradcheck(update, (*inputs, decay))


def test_tensor_weight_decay_without_grad_matches_float() -> None:
    ours_params, theirs_params = twin_params([(5,), (2, 3)])
    tensor_opt = Adam(ours_params, weight_decay=torch.tensor(0.2, dtype=torch.float64))
    float_opt = Adam(theirs_params, weight_decay=0.2)
    drive_in_lockstep((tensor_opt, float_opt), (ours_params, theirs_params), 5, stream_grads(7))
    assert_params_close(ours_params, theirs_params)
