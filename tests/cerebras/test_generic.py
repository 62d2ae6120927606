"""The generic tests of the test database for the Cerebras classes: every entry of namespace
``"cerebras"`` (``tests/cerebras_db``), every configuration.

Run as they are, from ``tests/optim/test_generic.py``: the state_dict round trip, the state_dict
cross-load with the torch oracle (both ways), maximize, the error inputs. Written here for what
the Cerebras classes do differently:

* the trajectory against the entry's oracle (torch's class with every documented Cerebras default
  spelled out, or a per-element reference), compared after every step, with the global step;
* preinitialize against lazy: the constructor creates the state, so "lazy" is an optimizer whose
  state was cleared;
* a parameter without a gradient keeps exactly the state the constructor made.

Not run, as the registry's capability flags say (a facade takes no ``foreach``, ``fused`` or
``differentiable``): foreach against the loop and gradcheck through ``differentiable=True``;
:func:`test_the_executor_tests_have_no_cerebras_case` checks that they say so.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from torch import Tensor

from tests._db import DBEntry, TorchOracle, cases, config_id, entries
from tests._harness import TOLERANCES, build, clone_params, grads_at, make_params, run_entry
from tests.cerebras._references import TrajectoryOptimizer
from tests.optim import test_generic as generic

NAMESPACE = "cerebras"
STEPS = generic.STEPS
#: Two implementations of the same float64 arithmetic differ by rounding only.
EXACT = {"rtol": 1e-12, "atol": 1e-14}


def _cases(**kwargs: Any) -> list[Any]:
    return cases(executors=False, namespace=NAMESPACE, **kwargs)


# ------------------------------------------------------------------------ against the oracle
def _oracle_cases() -> list[Any]:
    """(entry, config, executor): the loop, and where a group may select it, the foreach path."""
    params = []
    for entry in entries(NAMESPACE).values():
        executors = ["loop", "group-foreach"] if entry.inputs.group_foreach else ["loop"]
        for config in entry.inputs.configs:
            for executor in executors:
                params.append(pytest.param(entry, config, executor, id=f"{entry.name}-{config_id(config)}-{executor}"))
    return params


def _oracle_params(entry: DBEntry, dtype: torch.dtype) -> list[Tensor]:
    """The entry's parameters, then one whose norm is above Lamb's clamp of 10 and one that starts
    at zero (Lamb's trust ratio is 1 there; Adafactor's scale is eps2)."""
    generator = torch.Generator().manual_seed(3)
    big = 8 * torch.randn(6, dtype=dtype, generator=generator)
    assert big.norm() > 10
    return make_params(entry, dtype) + [big.requires_grad_(), torch.zeros(3, dtype=dtype, requires_grad=True)]


def _flat64(t: Any) -> Tensor:
    t = torch.as_tensor(t)
    return (torch.view_as_real(t) if t.is_complex() else t).reshape(-1).to(torch.float64)


def _assert_close(actual: Any, expected: Any, tolerance: dict[str, float], what: str) -> None:
    torch.testing.assert_close(actual, expected, **tolerance, msg=lambda m: f"{what}: {m}")


def _assert_states_match(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, params: list[Tensor],
                         oracle_params: list[Tensor], tolerance: dict[str, float], when: str) -> None:
    """Every state the oracle keeps, ours has, with the same value: torch's states with their
    dtype and shape (and no other key than the global step: checkpoints cross-load), a per-element
    reference's as flat float64 values of the real views."""
    per_element = isinstance(theirs, TrajectoryOptimizer)
    for index, (p, q) in enumerate(zip(params, oracle_params)):
        mine, expected = ours.state[p], theirs.state[q]
        if expected and not per_element:
            assert set(mine) - {"global_step"} == set(expected), f"state keys of parameter {index} {when}"
        for key, value in expected.items():
            assert key in mine, f"state {key!r} of parameter {index} missing {when}"
            what = f"state {key!r} of parameter {index} {when}"
            if per_element:
                _assert_close(_flat64(mine[key]), value, tolerance, what)
            else:
                _assert_close(torch.as_tensor(mine[key]), torch.as_tensor(value), tolerance, what)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("entry,config,executor", _oracle_cases())
def test_trajectory_matches_oracle(entry: DBEntry, config: dict[str, Any], executor: str, dtype: torch.dtype) -> None:
    """The Cerebras class, built with only the options of ``config`` (its own defaults for the
    rest), follows its oracle, built with every *documented* default spelled out: the update rule
    and Cerebras' defaults are checked at once. Two parameter groups, a parameter that sits out
    every third step, exact zeros in the first gradient (Lion: sign(0) = 0); parameters and
    states after every step; then the step counters."""
    params = _oracle_params(entry, dtype)
    start = clone_params(params)
    oracle_params = clone_params(params)
    ours = build(entry.cls, entry, params, config, "loop")
    if executor == "group-foreach":
        for group in ours.param_groups:
            group["foreach"] = True
    theirs = build(entry.oracle(config), entry, oracle_params, config, "loop")
    tolerance = EXACT if dtype == torch.float64 else TOLERANCES[dtype]
    received = [0] * len(params)
    for step in range(STEPS):
        grads = grads_at(step, params)
        if step == 0:
            grads[0].view(-1)[:2] = 0.0  # type: ignore[union-attr]
        for index, grad in enumerate(grads):
            params[index].grad = grad
            oracle_params[index].grad = None if grad is None else grad.clone()
            received[index] += grad is not None
        ours.step()
        theirs.step()
        for index, (p, q) in enumerate(zip(params, oracle_params)):
            _assert_close(p.detach(), q.detach(), tolerance, f"parameter {index} after step {step + 1}")
        _assert_states_match(ours, theirs, params, oracle_params, tolerance, f"after step {step + 1}")
    assert 0 < min(received) < STEPS  # every parameter stepped, one of them not every time
    for index, (p, count) in enumerate(zip(params, received)):
        state = ours.state[p]
        if "step" in state:
            assert float(state["step"]) == count, index
        if entry.inputs.global_step:
            assert state["global_step"].dtype == torch.float32 and state["global_step"].item() == count, index
        else:
            assert "global_step" not in state, index
    # Something moved: a test that compares two frozen copies would pass vacuously.
    assert any(not torch.equal(p, q) for p, q in zip(params, start))


# ------------------------------------------------------------- the state the constructor makes
@pytest.mark.parametrize("entry,config", _cases())
def test_preinitialize_equals_lazy(entry: DBEntry, config: dict[str, Any]) -> None:
    """The constructor creates the state that the steps would create, in the same order; a second
    ``preinitialize()`` and the first step add nothing; and the trajectory is the one of an
    optimizer whose state is created by its steps (``state.clear()`` after construction)."""
    eager_params = make_params(entry, torch.float64)
    lazy_params = clone_params(eager_params)
    eager = build(entry.cls, entry, eager_params, config, "loop")
    made = [list(eager.state[p]) for p in eager_params]
    eager.preinitialize()
    assert [list(eager.state[p]) for p in eager_params] == made, "a second preinitialize() changed the state"
    lazy = build(entry.cls, entry, lazy_params, config, "loop")
    lazy.state.clear()
    run_entry(entry, eager, eager_params, range(1))
    assert [list(eager.state[p]) for p in eager_params] == made, "the first step added state"
    run_entry(entry, eager, eager_params, range(1, STEPS))
    run_entry(entry, lazy, lazy_params, range(STEPS))
    for index, (p, q) in enumerate(zip(eager_params, lazy_params)):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
        assert list(lazy.state[q]) == made[index], f"state keys of parameter {index}"
        for key, value in eager.state[p].items():
            torch.testing.assert_close(torch.as_tensor(value), torch.as_tensor(lazy.state[q][key]), rtol=0, atol=0,
                                       msg=lambda m: f"state {key!r} of parameter {index}: {m}")


@pytest.mark.parametrize("entry,config", _cases())
def test_param_without_grad_is_untouched(entry: DBEntry, config: dict[str, Any]) -> None:
    """A parameter that never gets a gradient does not move and keeps exactly the state the
    constructor made for it (its global step stays 0)."""
    params = make_params(entry, torch.float64)
    frozen = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True)
    before = frozen.detach().clone()
    opt = build(entry.cls, entry, params + [frozen], config, "loop")
    made = {key: torch.as_tensor(value).clone() for key, value in opt.state[frozen].items()}
    assert bool(made) == bool(opt.state[params[-1]])  # state, where its group's other parameters have it
    run_entry(entry, opt, params, range(5))
    assert frozen.grad is None and torch.equal(frozen.detach(), before)
    assert list(opt.state[frozen]) == list(made)
    for key, value in made.items():
        assert torch.equal(torch.as_tensor(opt.state[frozen][key]), value), key
    if entry.inputs.global_step:
        assert made["global_step"].item() == 0


# -------------------------------------------------------------- from tests/optim/test_generic.py
@pytest.mark.parametrize("entry,config", _cases())
def test_state_dict_round_trip(entry: DBEntry, config: dict[str, Any]) -> None:
    generic.test_state_dict_round_trip(entry, config)


def _torch_oracle_cases() -> list[Any]:
    """The configurations that torch's class runs (not AdamW's ``correct_bias=False``, nor the
    classes with a per-element reference only)."""
    return [case for case in _cases()
            if isinstance(case.values[0].inputs.oracles_for(case.values[1])[0], TorchOracle)]


@pytest.mark.parametrize("direction", ["torch_to_optimkit", "optimkit_to_torch"])
@pytest.mark.parametrize("entry,config", _torch_oracle_cases())
def test_state_dict_cross_load(entry: DBEntry, config: dict[str, Any], direction: str) -> None:
    generic.test_state_dict_cross_load(entry, config, direction)


@pytest.mark.parametrize("entry,config", _cases(only=lambda e: e.inputs.supports_maximize))
def test_maximize_flips_direction(entry: DBEntry, config: dict[str, Any]) -> None:
    generic.test_maximize_flips_direction(entry, config)


def _error_cases() -> list[Any]:
    return [
        pytest.param(entry, error, id=f"{entry.name}-{index}")
        for entry in entries(NAMESPACE).values()
        for index, error in enumerate(entry.inputs.error_inputs)
    ]


@pytest.mark.parametrize("entry,error", _error_cases())
def test_error_inputs(entry: DBEntry, error: Any) -> None:
    generic.test_error_inputs(entry, error)


def test_the_executor_tests_have_no_cerebras_case() -> None:
    """The facades take no executor flags, the registry's capability flags say so, and so the
    generic tests that cross executors or differentiate through step() generate no Cerebras case."""
    for entry in entries(NAMESPACE).values():
        taken = set(inspect.signature(entry.cls).parameters)
        assert not {"foreach", "fused", "differentiable"} & taken, entry.name
        assert not (entry.spec.supports_foreach or entry.spec.supports_fused or entry.spec.supports_differentiable)
        assert entry.executors() == ["loop"]
    assert not _cases(only=lambda e: e.spec.supports_foreach or e.spec.supports_differentiable)
    assert all(case.values[2] == "loop" for case in cases(namespace=NAMESPACE))
