"""Generic tests generated from the test database: every registered optimizer, every input
configuration, every executor, against its oracle (``torch.optim`` or a reference)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests._db import DB, DBEntry, cases
from tests._harness import (
    assert_params_close,
    assert_states_close,
    build,
    clone_params,
    follow_oracle,
    make_params,
    run_entry,
)

STEPS = 30


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("entry,config,executor", cases())
def test_trajectory_matches_oracle(entry: DBEntry, config: dict[str, Any], executor: str, dtype: torch.dtype) -> None:
    params, _ = follow_oracle(entry, config, executor, dtype, STEPS)
    # Something moved: a test that compares two frozen copies would pass vacuously.
    assert any(not torch.equal(p, q) for p, q in zip(params, make_params(entry, dtype, executor=executor)))


@pytest.mark.parametrize("entry,config", cases(executors=False, only=lambda e: e.spec.supports_foreach))
def test_foreach_equals_loop(entry: DBEntry, config: dict[str, Any]) -> None:
    loop_params = make_params(entry, torch.float64)
    foreach_params = clone_params(loop_params)
    loop = build(entry.cls, entry, loop_params, config, "loop")
    foreach = build(entry.cls, entry, foreach_params, config, "foreach")
    run_entry(entry, loop, loop_params, range(STEPS))
    run_entry(entry, foreach, foreach_params, range(STEPS))
    assert_params_close(foreach_params, loop_params, entry.inputs.foreach_loop_tolerance)
    assert_states_close(foreach, loop, entry.inputs.foreach_loop_tolerance)


@pytest.mark.parametrize("direction", ["torch_to_optimkit", "optimkit_to_torch"])
@pytest.mark.parametrize("entry,config", cases(executors=False, only=lambda e: e.spec.torch_name is not None))
def test_state_dict_cross_load(entry: DBEntry, config: dict[str, Any], direction: str) -> None:
    """Train 10 steps with one implementation, resume 10 more with the other from its
    state_dict; the result equals 20 uninterrupted steps of the first."""
    source_cls, target_cls = entry.cls, entry.reference_cls()
    if direction == "torch_to_optimkit":
        source_cls, target_cls = target_cls, source_cls
    params = make_params(entry, torch.float64)
    straight = clone_params(params)
    source = build(source_cls, entry, params, config, "loop")
    run_entry(entry, source, params, range(10))

    resumed_params = clone_params(params)
    target = build(target_cls, entry, resumed_params, config, "loop")
    target.load_state_dict(source.state_dict())
    run_entry(entry, target, resumed_params, range(10, 20))

    uninterrupted = build(source_cls, entry, straight, config, "loop")
    run_entry(entry, uninterrupted, straight, range(20))
    assert_params_close(resumed_params, straight)


@pytest.mark.parametrize("entry,config", cases(executors=False))
def test_state_dict_round_trip(entry: DBEntry, config: dict[str, Any]) -> None:
    params = make_params(entry, torch.float64)
    opt = build(entry.cls, entry, params, config, "loop")
    run_entry(entry, opt, params, range(5))
    saved = opt.state_dict()
    fresh = build(entry.cls, entry, clone_params(params), config, "loop")
    fresh.load_state_dict(saved)
    reloaded = fresh.state_dict()
    assert reloaded["param_groups"] == saved["param_groups"]
    assert reloaded["state"].keys() == saved["state"].keys()
    for index, state in saved["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(reloaded["state"][index][key], value), key
            else:
                assert reloaded["state"][index][key] == value


@pytest.mark.parametrize("entry,config,executor", cases())
def test_preinitialize_equals_lazy(entry: DBEntry, config: dict[str, Any], executor: str) -> None:
    lazy_params = make_params(entry, torch.float64, executor=executor)
    eager_params = clone_params(lazy_params)
    lazy = build(entry.cls, entry, lazy_params, config, executor)
    eager = build(entry.cls, entry, eager_params, config, executor)
    eager.preinitialize()
    keys_before = {id(p): sorted(eager.state[p]) for p in eager_params}
    run_entry(entry, eager, eager_params, range(1))
    assert {id(p): sorted(eager.state[p]) for p in eager_params} == keys_before, "first step added state"
    run_entry(entry, eager, eager_params, range(1, STEPS))
    run_entry(entry, lazy, lazy_params, range(STEPS))
    assert_params_close(eager_params, lazy_params)


@pytest.mark.parametrize("entry,config", cases(executors=False))
def test_param_without_grad_is_untouched(entry: DBEntry, config: dict[str, Any]) -> None:
    params = make_params(entry, torch.float64)
    frozen = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    before = frozen.detach().clone()
    opt = build(entry.cls, entry, params + [frozen], config, "loop")
    initial_state = {key: value.clone() for key, value in opt.state.get(frozen, {}).items()}
    assert bool(initial_state) == entry.inputs.eager_state
    for step in range(5):
        run_entry(entry, opt, params, range(step, step + 1))
        assert frozen.grad is None
    assert torch.equal(frozen.detach(), before)
    # No state at all, or (eager_state) exactly the state the constructor made.
    final_state = opt.state.get(frozen, {})
    assert list(final_state) == list(initial_state)
    for key, value in initial_state.items():
        assert torch.equal(final_state[key], value), key


@pytest.mark.parametrize(
    "entry,config",
    cases(executors=False, only=lambda e: e.inputs.supports_maximize),
)
def test_maximize_flips_direction(entry: DBEntry, config: dict[str, Any]) -> None:
    if config.get("maximize"):
        pytest.skip("configuration already maximizes")
    params = make_params(entry, torch.float64)
    flipped_params = clone_params(params)
    minimizing = build(entry.cls, entry, params, config, "loop")
    maximizing = build(entry.cls, entry, flipped_params, {**config, "maximize": True}, "loop")
    run_entry(entry, minimizing, params, range(10))
    run_entry(entry, maximizing, flipped_params, range(10), negate=True)
    assert_params_close(flipped_params, params)


def _error_cases() -> list[Any]:
    return [
        pytest.param(entry, error, id=f"{entry.name}-{index}")
        for entry in DB.values()
        for index, error in enumerate(entry.inputs.error_inputs)
    ]


@pytest.mark.parametrize("entry,error", _error_cases())
def test_error_inputs(entry: DBEntry, error: Any) -> None:
    params = make_params(entry, torch.float64)
    if error.at_step:
        opt = entry.cls(params, **error.kwargs)
        for p in params:
            p.grad = torch.ones_like(p)
        with pytest.raises(error.error, match=error.match):
            opt.step()
    else:
        with pytest.raises(error.error, match=error.match):
            entry.cls(params, **error.kwargs)
    # torch raises the same error type with the same words.
    if entry.spec.torch_name is not None and entry.inputs.reference is None:
        reference = entry.reference_cls()
        if error.at_step:
            opt = reference(clone_params(params), **error.kwargs)
            for group in opt.param_groups:
                for p in group["params"]:
                    p.grad = torch.ones_like(p)
            with pytest.raises(error.error, match=error.match):
                opt.step()
        else:
            with pytest.raises(error.error, match=error.match):
                reference(clone_params(params), **error.kwargs)


def _differentiable_cases() -> list[Any]:
    return cases(executors=False, only=lambda e: e.spec.supports_differentiable)


@pytest.mark.parametrize("entry,config", _differentiable_cases())
def test_differentiable_gradcheck(entry: DBEntry, config: dict[str, Any]) -> None:
    """With differentiable=True, gradients flow from the updated parameter and states back to the
    parameter, its gradient and its previous states (checked numerically in float64)."""
    generator = torch.Generator().manual_seed(3)
    probe = torch.zeros(4, dtype=torch.float64)
    template = entry.cls([probe], **config)
    template.preinitialize()
    # Give every state a non-trivial value; step counters stay plain numbers.
    names, values = [], []
    for name, value in template.state[probe].items():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            names.append(name)
            values.append(torch.rand(value.shape, dtype=torch.float64, generator=generator) + 0.5)
    if entry.inputs.gradcheck_states is not None:
        adjusted = entry.inputs.gradcheck_states(dict(zip(names, values)))
        values = [adjusted[name] for name in names]
    values = [value.requires_grad_() for value in values]
    counters = {k: v.clone().fill_(5.0) for k, v in template.state[probe].items()
                if isinstance(v, torch.Tensor) and v.dim() == 0}

    def update(param: torch.Tensor, grad: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p = param.clone()
        p.grad = grad
        opt = entry.cls([p], differentiable=True, **config)
        opt.state[p].update({k: v.clone() for k, v in counters.items()})
        opt.state[p].update({name: value.clone() for name, value in zip(names, states)})
        opt.step()
        return (p, *[opt.state[p][name] for name in names])

    param = torch.rand(4, dtype=torch.float64, generator=generator).requires_grad_()
    grad = torch.rand(4, dtype=torch.float64, generator=generator).requires_grad_()
    assert torch.autograd.gradcheck(update, (param, grad, *values))
