"""Rprop beyond the generic database tests: an element-by-element reference, capturable mode,
state layout, NaN handling and torch's errors."""

from __future__ import annotations

import pytest
import torch

from optimkit.optim import Rprop
from tests._harness import (
    EXACT,
    allow_capturable_on_cpu,
    assert_params_close,
    clone_params,
    drive_in_lockstep,
    random_params,
    reload_with_numbers,
    stream_grads,
    using_default_dtype,
)


def _reference(theta: list[float], grads: list[list[float]], *, lr: float, etas: tuple[float, float],
               step_sizes: tuple[float, float], maximize: bool) -> tuple[list[float], list[float], list[float]]:
    """Rprop written per element with Python floats, straight from its definition."""
    etaminus, etaplus = etas
    lowest, highest = step_sizes
    theta = list(theta)
    kept = [0.0] * len(theta)
    size = [lr] * len(theta)
    for grad in grads:
        for i, g in enumerate(grad):
            g = -g if maximize else g
            agreement = kept[i] * g
            if agreement > 0:
                factor = etaplus
            elif agreement < 0:
                factor = etaminus
                g = 0.0  # a sign flip: no move, and forget this gradient
            else:
                factor = 1.0
            size[i] = min(max(size[i] * factor, lowest), highest)
            direction = (g > 0) - (g < 0)
            theta[i] -= size[i] * direction
            kept[i] = g
    return theta, kept, size


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.01, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50), "maximize": False},
        # Bounds close to lr: both clamps are hit.
        {"lr": 0.01, "etas": (0.3, 1.7), "step_sizes": (0.004, 0.03), "maximize": False},
        {"lr": 0.05, "etas": (0.6, 1.1), "step_sizes": (1e-3, 0.2), "maximize": True},
    ],
)
def test_matches_elementwise_reference(options: dict, foreach: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(12, dtype=torch.float64, generator=generator)
    grads = [torch.randn(12, dtype=torch.float64, generator=generator) for _ in range(20)]
    for grad in grads[::4]:
        grad[::5] = 0.0  # exact zeros exercise the "no information" branch
    w = start.clone().requires_grad_()
    opt = Rprop([w], foreach=foreach, **options)
    for grad in grads:
        w.grad = grad.clone()
        opt.step()
    theta, kept, size = _reference(start.tolist(), [g.tolist() for g in grads], **options)
    expected = {"theta": theta, "prev": kept, "step_size": size}
    actual = {"theta": w.detach(), "prev": opt.state[w]["prev"], "step_size": opt.state[w]["step_size"]}
    for name, values in expected.items():
        torch.testing.assert_close(actual[name], torch.tensor(values, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-14, msg=name)
    assert opt.state[w]["step"].item() == 20


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_matches_torch(monkeypatch: pytest.MonkeyPatch, foreach: bool) -> None:
    allow_capturable_on_cpu(monkeypatch, torch.optim.Rprop)
    generator = torch.Generator().manual_seed(1)
    base = random_params([(4, 3), (5,)], seed=generator, requires_grad=False)
    ours, theirs, plain = clone_params(base), clone_params(base), clone_params(base)
    kwargs = {"lr": 0.02, "step_sizes": (1e-3, 0.05), "foreach": foreach}
    opt_ours = Rprop(ours, capturable=True, **kwargs)
    opt_theirs = torch.optim.Rprop(theirs, capturable=True, **kwargs)
    opt_plain = Rprop(plain, **kwargs)
    drive_in_lockstep((opt_ours, opt_theirs, opt_plain), (ours, theirs, plain), 15, stream_grads(generator))
    assert_params_close(ours, theirs, EXACT)
    assert_params_close(ours, plain, EXACT)
    step = opt_ours.state[ours[0]]["step"]
    assert step.device == ours[0].device and step.item() == 15


def test_state_layout_matches_torch() -> None:
    w_ours = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    w_theirs = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    ours, theirs = Rprop([w_ours], lr=0.2), torch.optim.Rprop([w_theirs], lr=0.2)
    for w, opt in ((w_ours, ours), (w_theirs, theirs)):
        w.grad = torch.ones(2, 3, dtype=torch.float64)
        opt.step()
    assert list(ours.state[w_ours]) == list(theirs.state[w_theirs]) == ["step", "prev", "step_size"]
    for key, value in theirs.state[w_theirs].items():
        mine = ours.state[w_ours][key]
        assert (mine.dtype, mine.device, mine.shape) == (value.dtype, value.device, value.shape), key
        torch.testing.assert_close(mine, value, rtol=0, atol=0)


def test_complex_step_size_covers_both_parts() -> None:
    w = torch.zeros(3, dtype=torch.complex128, requires_grad=True)
    opt = Rprop([w], lr=0.25)
    opt.preinitialize()
    assert torch.equal(opt.state[w]["step_size"], torch.full((3,), 0.25 + 0.25j, dtype=torch.complex128))


def test_step_is_float64_when_that_is_the_default_dtype() -> None:
    with using_default_dtype(torch.float64):
        w = torch.zeros(2, requires_grad=True)
        opt = Rprop([w])
        opt.preinitialize()
        assert opt.state[w]["step"].dtype == torch.float64


def test_preinitialize_and_sparsify_names() -> None:
    w = torch.nn.Parameter(torch.ones(4))
    opt = Rprop([w], lr=0.3)
    assert opt.state_names_to_sparsify() == ["prev", "step_size"]
    opt.preinitialize()
    assert list(opt.state[w]) == ["step", "prev", "step_size"]
    assert torch.equal(opt.state[w]["step_size"], torch.full((4,), 0.3))


def test_nan_gradient_is_handled_like_torch() -> None:
    """torch's sign of NaN is 0: a NaN gradient element neither moves its parameter nor changes
    its step size, in torch's two implementations and in ours."""
    grads = [torch.tensor(values, dtype=torch.float64)
             for values in ([1.0, -2.0, 3.0], [float("nan"), 1.0, -1.0], [1.0, 1.0, 1.0])]
    results = []
    for cls, foreach in ((Rprop, False), (Rprop, True), (torch.optim.Rprop, False), (torch.optim.Rprop, True)):
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = cls([w], foreach=foreach)
        for g in grads:
            w.grad = g.clone()
            opt.step()
        results.append((w.detach().clone(), opt.state[w]["step_size"].clone(), opt.state[w]["prev"].clone()))
    # Element 0 moved on steps 1 and 3 only, by lr each time (no growth across the NaN).
    assert results[0][0][0].item() == pytest.approx(-0.02, abs=1e-15)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, equal_nan=True, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [Rprop, torch.optim.Rprop])
def test_sparse_gradient_is_rejected(cls: type) -> None:
    w = torch.zeros(3, requires_grad=True)
    opt = cls([w])
    w.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="^Rprop does not support sparse gradients$"):
        opt.step()


def test_float_step_from_old_checkpoint_is_upgraded() -> None:
    w = torch.zeros(2, requires_grad=True)
    opt = Rprop([w])
    w.grad = torch.ones(2)
    opt.step()
    reload_with_numbers(opt, w, step=4)
    step = opt.state[w]["step"]
    assert torch.is_tensor(step) and step.item() == 4 and step.dtype == torch.float32 and step.device.type == "cpu"
