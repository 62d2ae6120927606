"""Mixed precision: ``torch.autocast`` on the CPU (float16 and bfloat16) with ``torch.amp.GradScaler``.

The scaler multiplies the loss by a large factor, unscales the gradients before the update and
skips the update when they overflowed (then halves the factor). What must hold with optimkit:

* a step whose gradients hold an inf or a NaN is skipped without touching the optimizer state
  (every tensor, the step counters included) or the parameters;
* the steps that are taken equal torch.optim's under the same scaler, executor by executor;
* with ``fused=True`` the scaler hands its scale and overflow flag to the optimizer, which unscales
  inside torch's fused kernel (``_step_supports_amp_scaling``); with optimkit's fused default
  (neither ``foreach`` nor ``fused`` given) the scaler unscales first, as for any optimizer;
* a scheduler stepped after a skipped first step does not warn that ``optimizer.step()`` was not
  called (torch's schedulers do, pytorch/pytorch#67590 style reports; the order was right).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import optimkit.optim as ok
from optimkit.optim import lr_scheduler as sched

STEPS = 8
# Steps whose gradients are spoiled after backward: the scaler must skip them.
POISONED = {0: float("inf"), 3: float("nan"), 4: float("-inf")}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(50 + step)
    return torch.randn(8, 6, generator=generator), torch.randn(8, 3, generator=generator)


Snapshot = tuple[list[torch.Tensor], dict[int, dict[str, torch.Tensor]]]


def _snapshot(optimizer: torch.optim.Optimizer, model: nn.Module) -> Snapshot:
    """The parameters and every tensor of the optimizer state, copied."""
    params = list(model.parameters())
    position = {id(p): i for i, p in enumerate(params)}
    state = {position[id(p)]: {k: v.clone() for k, v in s.items() if isinstance(v, torch.Tensor)}
             for p, s in optimizer.state.items()}
    return [p.detach().clone() for p in params], state


def _train(library: Any, name: str, options: dict[str, Any], dtype: torch.dtype,
           on_skip: Callable[[list[torch.Tensor], list[torch.Tensor]], None] | None = None) -> dict[str, Any]:
    """STEPS autocast steps with a GradScaler; POISONED steps get a non-finite gradient entry."""
    model = _model()
    cls = getattr(library, name)
    optimizer = cls(model.parameters(), lr=1e-2, **options)
    scheduler = library.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    scales, caught = [], []
    for step in range(STEPS):
        x, y = _batch(step)
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=dtype):
            loss = (model(x).float() - y).pow(2).mean()
        scaler.scale(loss).backward()
        if step in POISONED:
            next(model.parameters()).grad.view(-1)[step] = POISONED[step]
        before = _snapshot(optimizer, model)
        scaler.step(optimizer)
        scaler.update()
        if step in POISONED and on_skip is not None:
            on_skip(before, _snapshot(optimizer, model))
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            scheduler.step()
        caught += [str(w.message) for w in seen if "lr_scheduler.step()" in str(w.message)]
        scales.append(scaler.get_scale())
    return {"params": [p.detach().clone() for p in model.parameters()], "state": optimizer.state_dict()["state"],
            "scales": scales, "order_warnings": caught, "optimizer": optimizer}


def _assert_untouched(before: Snapshot, after: Snapshot) -> None:
    """Parameters and existing state unchanged. A fused kernel, which skips inside the kernel, may
    have created the state of a first step: then it is the fresh state (zeros, step 0)."""
    for b, a in zip(before[0], after[0]):
        assert torch.equal(b, a)
    for index, state in after[1].items():
        for key, value in state.items():
            if index in before[1]:
                assert torch.equal(before[1][index][key], value), (index, key)
            else:
                assert not value.any(), (index, key)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-6, atol=1e-7)


# (optimizer, optimkit options, torch options giving the same arithmetic)
CASES = [
    pytest.param("AdamW", {"fused": True}, {"fused": True}, id="adamw-fused"),
    pytest.param("AdamW", {"foreach": True}, {"foreach": True}, id="adamw-foreach"),
    pytest.param("AdamW", {"foreach": False}, {"foreach": False}, id="adamw-loop"),
    pytest.param("Adam", {"fused": True, "amsgrad": True}, {"fused": True, "amsgrad": True}, id="adam-amsgrad-fused"),
    # torch's fused SGD is the wrong reference: when the scaler skips the first step, its kernel
    # leaves the new momentum buffer uninitialised (torch.empty_like) and the next step reads it
    # as a momentum (the parameters reach 1e29 here). optimkit's buffer starts at zero and equals
    # torch's for-loop.
    pytest.param("SGD", {"fused": True, "momentum": 0.9}, {"foreach": False, "momentum": 0.9}, id="sgd-fused"),
    # A skipped first step must leave the next one a first step: with dampening that shows.
    pytest.param("SGD", {"fused": True, "momentum": 0.9, "dampening": 0.5},
                 {"foreach": False, "momentum": 0.9, "dampening": 0.5}, id="sgd-dampening-fused"),
    pytest.param("SGD", {"momentum": 0.9, "foreach": False}, {"momentum": 0.9, "foreach": False}, id="sgd-loop"),
    pytest.param("Adagrad", {"fused": True}, {"fused": True}, id="adagrad-fused"),
    pytest.param("RMSprop", {"foreach": False}, {"foreach": False}, id="rmsprop-loop"),
    pytest.param("Adamax", {"foreach": False}, {"foreach": False}, id="adamax-loop"),
]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize(("name", "ours", "theirs"), CASES)
def test_scaler_skips_nonfinite_steps_and_matches_torch(name: str, ours: dict[str, Any], theirs: dict[str, Any],
                                                        dtype: torch.dtype) -> None:
    result = _train(ok, name, ours, dtype, on_skip=_assert_untouched)
    reference = _train(torch.optim, name, theirs, dtype)
    # Every poisoned step halved the scale; the others kept it (growth_interval is 2000 steps).
    assert result["scales"] == reference["scales"]
    assert result["scales"][-1] == 2.0**10 / 2 ** len(POISONED)
    # The same arithmetic gives the same bits; torch's for-loop against the fused SGD kernel (see
    # CASES) rounds differently.
    same = torch.equal if ours.get("fused") == theirs.get("fused") else _close
    for p, q in zip(result["params"], reference["params"]):
        assert same(p, q)
    for index, state in reference["state"].items():
        for key, value in state.items():
            assert same(result["state"][index][key], value), (index, key)
    steps_taken = STEPS - len(POISONED)
    if "step" in result["state"][0]:
        assert float(result["state"][0]["step"]) == steps_taken
    assert result["order_warnings"] == []
    # With fused=True the scaler hands over its scale: the kernel unscales and checks for overflow.
    assert getattr(result["optimizer"], "_step_supports_amp_scaling", False) == bool(ours.get("fused"))


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD", "Adagrad"])
def test_fused_default_under_the_scaler(name: str) -> None:
    """Neither foreach nor fused: optimkit steps with torch's fused kernel, after the scaler has
    unscaled the gradients itself. Same skips, and the same trajectory as torch's fused kernel
    given the scale (up to the rounding of multiplying by 1/scale first)."""
    options = {"momentum": 0.9} if name == "SGD" else {}
    result = _train(ok, name, options, torch.float16, on_skip=_assert_untouched)
    # (torch's fused SGD mishandles a skipped first step: see CASES.)
    reference = _train(torch.optim, name, {**options, "foreach" if name == "SGD" else "fused": name != "SGD"},
                       torch.float16)
    assert result["scales"] == reference["scales"]
    for p, q in zip(result["params"], reference["params"]):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert result["order_warnings"] == []


def test_torch_warns_falsely_where_optimkit_does_not() -> None:
    """The control: torch's scheduler on torch's for-loop optimizer warns after the skipped first
    step, so the check above is not vacuous."""
    reference = _train(torch.optim, "AdamW", {"foreach": False}, torch.float16)
    assert len(reference["order_warnings"]) == 1


def test_order_warning_still_fires_when_step_was_forgotten() -> None:
    model = _model()
    optimizer = ok.AdamW(model.parameters(), lr=1e-2)
    scheduler = sched.StepLR(optimizer, step_size=2)
    x, y = _batch(0)
    (model(x) - y).pow(2).mean().backward()  # finite gradients, and no optimizer.step()
    with pytest.warns(UserWarning, match=r"lr_scheduler.step\(\)` before `optimizer.step\(\)"):
        scheduler.step()
