"""Lion: against the plain reference in tests/optim/_references.py, and its defining properties."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch

from optimkit.optim import Lion
from tests._harness import TOLERANCES, assert_params_close, clone_params, drive_in_lockstep, random_params, stream_grads
from tests.optim._references import ReferenceLion
from tests.optim._regression import regression_loss_ratio

CONFIGS = [
    {"lr": 0.01},
    {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.5},
    {"lr": 0.005, "maximize": True, "weight_decay": 0.1},
]


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_trajectory_equals_reference_for_20_steps(config: dict[str, Any], foreach: bool) -> None:
    g = torch.Generator().manual_seed(0)  # the parameters, then the gradients
    base = random_params([(4, 3), (5,), (3, 2)], [torch.float64, torch.float64, torch.complex128], seed=g,
                         requires_grad=False)
    ours, theirs = clone_params(base), clone_params(base)
    opt = Lion(ours, foreach=foreach, **config)
    ref = ReferenceLion(theirs, **config)
    drive_in_lockstep((opt, ref), (ours, theirs), 20, stream_grads(g))
    assert_params_close(ours, theirs, TOLERANCES[torch.float64])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(opt.state[a]["exp_avg"], ref.state[b]["exp_avg"], **TOLERANCES[torch.float64])
    assert not torch.equal(ours[0].detach(), base[0])


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_reduces_a_regression_loss_tenfold_in_200_steps(weight_decay: float) -> None:
    ratio = regression_loss_ratio(lambda params: Lion(params, lr=0.02, weight_decay=weight_decay))
    assert ratio >= 10, ratio


def test_every_coordinate_moves_by_lr() -> None:
    g = torch.Generator().manual_seed(3)
    w = torch.randn(10, dtype=torch.float64, generator=g, requires_grad=True)
    opt = Lion([w], lr=0.01)
    for _ in range(5):
        before = w.detach().clone()
        w.grad = torch.randn(10, dtype=torch.float64, generator=g)
        opt.step()
        torch.testing.assert_close((w.detach() - before).abs(), torch.full((10,), 0.01, dtype=torch.float64),
                                   rtol=1e-12, atol=1e-15)


def test_first_step_direction_and_momentum() -> None:
    """Step 1 from m = 0: w moves by -lr sign(g), and m becomes (1 - beta2) g (beta2, not beta1)."""
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    grad = torch.tensor([0.2, -3.0, 0.0], dtype=torch.float64)
    opt = Lion([w], lr=0.1, betas=(0.9, 0.99))
    w.grad = grad
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([-0.1, 0.1, 0.0], dtype=torch.float64))
    torch.testing.assert_close(opt.state[w]["exp_avg"], 0.01 * grad)


def test_weight_decay_is_decoupled() -> None:
    """With zero gradient and momentum the sign is 0: only w * (1 - lr * wd) remains."""
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = Lion([w], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros(2, dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([0.95, -1.9], dtype=torch.float64), rtol=1e-14, atol=0)


def test_state_and_sparsify_names() -> None:
    w = torch.zeros(2, 3, requires_grad=True)
    opt = Lion([w])
    assert opt.state_names_to_sparsify() == ["exp_avg"]
    opt.preinitialize()
    assert list(opt.state[w]) == ["exp_avg"] and opt.state[w]["exp_avg"].shape == w.shape


def test_signature() -> None:
    parameters = inspect.signature(Lion.__init__).parameters
    positional = [(n, p.default) for n, p in parameters.items() if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == [("self", inspect.Parameter.empty), ("params", inspect.Parameter.empty), ("lr", 1e-4),
                          ("betas", (0.9, 0.99)), ("weight_decay", 0.0), ("maximize", False)]
    keyword_only = {n: p.default for n, p in parameters.items() if p.kind == p.KEYWORD_ONLY}
    assert keyword_only == {"foreach": None, "differentiable": False, "fused": None, "state_dtype": None,
                            "stochastic_rounding": None}
