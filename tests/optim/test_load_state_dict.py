"""``load_state_dict`` checks the state dict before loading it.

torch's loader accepts a state dict of another optimizer class, or one with a missing or
misshapen entry, and fails only at the next ``step()``. optimkit's base class raises at load time,
naming the parameter, the entry and what was expected, and leaves the optimizer exactly as it was;
everything torch can load and step with still loads.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor

import optimkit.cerebras.optim as cerebras
import optimkit.optim as optim
from tests._harness import random_params, seeded_grads, set_grads

# ------------------------------------------------------------------------------------ helpers


def _params(seed: int = 0) -> list[Tensor]:
    return random_params([(4, 3), (5,), (2, 2)], torch.float32, seed=seed)


def _set_grads(params: list[Tensor], step: int, *, sparse: bool = False, skip_last: bool = False) -> None:
    last = len(params) - 1
    grads = seeded_grads(100, skip=lambda _, index: skip_last and index == last)(step, params)
    set_grads([grad.to_sparse() if sparse and grad is not None else grad for grad in grads], params)


def _train(opt: torch.optim.Optimizer, params: list[Tensor], steps: int, *, sparse: bool = False,
           closure: bool = False, skip_last: bool = False) -> None:
    """``steps`` steps; ``skip_last`` leaves the last parameter without a gradient (no state)."""
    for step in range(steps):
        if closure:
            def loss_fn(step: int = step) -> Tensor:
                _set_grads(params, step, skip_last=skip_last)
                return torch.stack([(p.detach() ** 2).sum() for p in params]).sum()

            opt.step(loss_fn)
        else:
            _set_grads(params, step, sparse=sparse, skip_last=skip_last)
            opt.step()


def _snapshot(opt: torch.optim.Optimizer) -> dict[str, Any]:
    return copy.deepcopy(opt.state_dict())


def _assert_same_value(actual: Any, expected: Any, where: tuple[Any, ...]) -> None:
    if isinstance(expected, Tensor):
        assert isinstance(actual, Tensor) and torch.equal(actual, expected), where
    elif isinstance(expected, (list, tuple)):  # LBFGS keeps lists of tensors
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for a, e in zip(actual, expected):
            _assert_same_value(a, e, where)
    else:
        assert actual == expected, where


def _assert_same_state_dict(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual["param_groups"] == expected["param_groups"]
    assert actual["state"].keys() == expected["state"].keys()
    for index, state in expected["state"].items():
        assert list(actual["state"][index]) == list(state)
        for key, value in state.items():
            _assert_same_value(actual["state"][index][key], value, (index, key))


@dataclass(frozen=True)
class Subject:
    """An optimizer under test: how to build it, how to step it, which per-parameter tensor
    entry to corrupt (None: its per-parameter state is not checked, LBFGS) and what another
    optimizer class's state dict for the same parameters looks like."""

    name: str
    build: Callable[[list[Tensor]], torch.optim.Optimizer]
    entry: str | None
    other: Callable[[list[Tensor]], torch.optim.Optimizer]
    sparse: bool = False
    closure: bool = False

    def trained(self, params: list[Tensor], steps: int = 3, **kwargs: Any) -> torch.optim.Optimizer:
        opt = self.build(params)
        _train(opt, params, steps, sparse=self.sparse, closure=self.closure, **kwargs)
        return opt


def _with_global_step(opt: optim.Optimizer) -> optim.Optimizer:
    opt.enable_global_step = True
    return opt


SUBJECTS = [
    Subject("Adam", lambda ps: optim.Adam(ps, lr=0.01), "exp_avg_sq", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)),
    Subject("AdamW-amsgrad", lambda ps: optim.AdamW(ps, lr=0.01, amsgrad=True), "max_exp_avg_sq",
            lambda ps: optim.NAdam(ps, lr=0.01)),
    Subject("SGD-momentum", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), "momentum_buffer",
            lambda ps: optim.Adam(ps, lr=0.01)),
    Subject("RMSprop-centered", lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True), "grad_avg",
            lambda ps: optim.Adagrad(ps, lr=0.01)),
    Subject("NAdam", lambda ps: optim.NAdam(ps, lr=0.01), "exp_avg", lambda ps: optim.Adam(ps, lr=0.01)),
    Subject("ASGD", lambda ps: optim.ASGD(ps, lr=0.01), "ax", lambda ps: optim.Rprop(ps, lr=0.01)),
    Subject("Adafactor", lambda ps: optim.Adafactor(ps, lr=0.01), "variance", lambda ps: optim.Adam(ps, lr=0.01)),
    Subject("SparseAdam", lambda ps: optim.SparseAdam(ps, lr=0.01), "exp_avg", lambda ps: optim.SGD(ps, lr=0.1),
            sparse=True),
    Subject("Lion", lambda ps: optim.Lion(ps, lr=0.01), "exp_avg", lambda ps: optim.Adamax(ps, lr=0.01)),
    Subject("Adagrad-global_step", lambda ps: _with_global_step(optim.Adagrad(ps, lr=0.01)), "sum",
            lambda ps: optim.Adadelta(ps)),
    Subject("cerebras-AdamW", lambda ps: cerebras.AdamW(ps, lr=0.01, correct_bias=False), "exp_avg",
            lambda ps: cerebras.SGD(ps, lr=0.1, momentum=0.9)),
    Subject("cerebras-Adafactor", lambda ps: cerebras.Adafactor(ps, lr=0.01), "exp_avg_sq_row",
            lambda ps: cerebras.Adam(ps, lr=0.01)),
    Subject("LBFGS", lambda ps: optim.LBFGS(ps, lr=0.1, history_size=3, max_iter=3), None,
            lambda ps: optim.Adam(ps, lr=0.01), closure=True),
]


def _subject_ids() -> list[Any]:
    return [pytest.param(subject, id=subject.name) for subject in SUBJECTS]


def _per_param_subjects() -> list[Any]:
    return [pytest.param(subject, id=subject.name) for subject in SUBJECTS if subject.entry is not None]


def _tensor_param_index(state_dict: dict[str, Any], entry: str) -> int:
    """The saved index of a parameter whose ``entry`` is a tensor with at least one dimension."""
    for index, state in state_dict["state"].items():
        value = state.get(entry)
        if isinstance(value, Tensor) and value.dim() > 0:
            return index
    raise AssertionError(f"no parameter has a tensor {entry!r}")


def _expect_rejected(subject: Subject, corrupt: Callable[[dict[str, Any]], None], error: type[Exception],
                     match: str, *, from_other: bool = False) -> None:
    """Build a trained target, corrupt a good state dict, and check that loading it raises
    ``error`` matching ``match`` and leaves the target's state_dict and later steps unchanged."""
    source_params = _params(1)
    source = subject.other(source_params) if from_other else subject.build(source_params)
    _train(source, source_params, 2, sparse=subject.sparse and not from_other, closure=subject.closure and not from_other)
    bad = copy.deepcopy(source.state_dict())
    corrupt(bad)

    target_params, control_params = _params(), _params()
    target, control = subject.trained(target_params, 2), subject.trained(control_params, 2)
    before = _snapshot(target)
    with pytest.raises(error, match=match):
        target.load_state_dict(bad)
    _assert_same_state_dict(target.state_dict(), before)
    # The optimizer goes on exactly as one that was never asked to load.
    _train(target, target_params, 2, sparse=subject.sparse, closure=subject.closure)
    _train(control, control_params, 2, sparse=subject.sparse, closure=subject.closure)
    for a, b in zip(target_params, control_params):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------ rejected dicts


@pytest.mark.parametrize("subject", _subject_ids())
def test_wrong_number_of_groups(subject: Subject) -> None:
    def corrupt(sd: dict[str, Any]) -> None:
        sd["param_groups"].append({**sd["param_groups"][0], "params": []})

    _expect_rejected(subject, corrupt, ValueError, "loaded state dict has a different number of parameter groups")


@pytest.mark.parametrize("subject", _subject_ids())
def test_wrong_number_of_params_in_a_group(subject: Subject) -> None:
    def corrupt(sd: dict[str, Any]) -> None:
        sd["param_groups"][0]["params"] = sd["param_groups"][0]["params"][:-1]

    _expect_rejected(subject, corrupt, ValueError,
                     "loaded state dict contains a parameter group that doesn't match the size of optimizer's group")


@pytest.mark.parametrize("subject", _subject_ids())
def test_state_dict_of_another_class(subject: Subject) -> None:
    _expect_rejected(subject, lambda sd: None, ValueError,
                     rf"does not fit {re.escape(type(subject.build(_params())).__name__)}: .*another optimizer class",
                     from_other=True)


@pytest.mark.parametrize("subject", _per_param_subjects())
def test_missing_state_entry(subject: Subject) -> None:
    assert subject.entry is not None
    entry = subject.entry
    params = _params(1)
    only_entry = set(subject.trained(params, 1).state_dict()["state"][0]) - {"global_step"} == {entry}
    if only_entry:
        # Without its only entry the parameter has no state: that of a parameter that has not
        # been stepped yet, which loads. Keep a foreign entry so that the state is not empty.
        def corrupt(sd: dict[str, Any]) -> None:
            state = sd["state"][_tensor_param_index(sd, entry)]
            state["extra"] = state.pop(entry)
    else:
        def corrupt(sd: dict[str, Any]) -> None:
            del sd["state"][_tensor_param_index(sd, entry)][entry]

    _expect_rejected(subject, corrupt, KeyError, rf"parameter \d+ in group 0 lacks '{entry}'")


@pytest.mark.parametrize("cls", [optim.SGD, optim.Lion])
def test_removing_the_only_entry_leaves_a_parameter_without_state(cls: type) -> None:
    params = _params()
    kwargs: dict[str, Any] = {"lr": 0.1, "momentum": 0.9} if cls is optim.SGD else {"lr": 0.01}
    source = cls(params, **kwargs)
    _train(source, params, 1)
    saved = copy.deepcopy(source.state_dict())
    saved["state"][0].clear()
    target = cls(_params(), **kwargs)
    target.load_state_dict(saved)
    _train(target, target.param_groups[0]["params"], 1)


def test_a_global_step_alone_is_no_algorithm_state() -> None:
    """`increment_global_step` before the first step leaves only the counter: it loads, and the
    next step creates the algorithm's state beside it, keeping the count."""
    params = _params()
    source = optim.SGD(params, lr=0.1, momentum=0.9)
    source.increment_global_step(params[0])
    target = optim.SGD(_params(), lr=0.1, momentum=0.9)
    target.enable_global_step = True
    target.load_state_dict(source.state_dict())
    _train(target, target.param_groups[0]["params"], 1)
    state = target.state[target.param_groups[0]["params"][0]]
    assert set(state) == {"global_step", "momentum_buffer"}
    assert state["global_step"].item() == 2


@pytest.mark.parametrize("subject", _per_param_subjects())
def test_state_entry_of_the_wrong_type(subject: Subject) -> None:
    assert subject.entry is not None
    entry = subject.entry

    def corrupt(sd: dict[str, Any]) -> None:
        sd["state"][_tensor_param_index(sd, entry)][entry] = 0.5

    _expect_rejected(subject, corrupt, TypeError, rf"parameter \d+ in group 0: '{entry}' is float 0.5, expected a tensor of shape")


@pytest.mark.parametrize("subject", _per_param_subjects())
def test_state_entry_of_the_wrong_shape(subject: Subject) -> None:
    assert subject.entry is not None
    entry = subject.entry

    def corrupt(sd: dict[str, Any]) -> None:
        index = _tensor_param_index(sd, entry)
        sd["state"][index][entry] = torch.zeros(7, 7)

    _expect_rejected(subject, corrupt, ValueError, rf"parameter \d+ in group 0: '{entry}' has shape \(7, 7\), expected \(")


def test_messages_name_the_parameter_index_key_and_expectation() -> None:
    params = _params()
    source = optim.Adam(params, lr=0.01)
    _train(source, params, 1)
    bad = copy.deepcopy(source.state_dict())
    del bad["state"][2]["exp_avg"]
    with pytest.raises(KeyError) as missing:
        optim.Adam(_params(), lr=0.01).load_state_dict(bad)
    assert "parameter 2 in group 0 lacks 'exp_avg'" in str(missing.value)
    assert "['step', 'exp_avg', 'exp_avg_sq']" in str(missing.value)

    bad = copy.deepcopy(source.state_dict())
    bad["state"][0]["exp_avg"] = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=re.escape(
            "parameter 0 in group 0: 'exp_avg' has shape (3, 4), expected (4, 3) (the shape of the parameter)")):
        optim.Adam(_params(), lr=0.01).load_state_dict(bad)

    bad = copy.deepcopy(source.state_dict())
    bad["state"][1]["step"] = torch.zeros(2)
    with pytest.raises(TypeError, match=re.escape("parameter 1 in group 0: 'step' is a tensor of shape (2,), expected a 0-dim tensor")):
        optim.Adam(_params(), lr=0.01).load_state_dict(bad)


def test_message_uses_parameter_names_when_saved() -> None:
    model = torch.nn.Linear(3, 2)
    source = optim.Adam(model.named_parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    source.step()
    bad = copy.deepcopy(source.state_dict())
    del bad["state"][1]["exp_avg_sq"]
    with pytest.raises(KeyError, match=r"parameter 1 \('bias'\) in group 0 lacks 'exp_avg_sq'"):
        optim.Adam(model.named_parameters(), lr=0.01).load_state_dict(bad)


def test_another_class_names_the_missing_options() -> None:
    params = _params()
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    _train(sgd, params, 1)
    with pytest.raises(ValueError, match="parameter group 0 lacks the option\\(s\\) 'betas', 'eps' that Adam needs"):
        optim.Adam(_params()).load_state_dict(sgd.state_dict())


def test_another_class_with_compatible_options_is_told_by_its_state() -> None:
    """NAdam's groups have every option Adam needs; its `mu_product` state and `momentum_decay`
    option give it away."""
    params = _params()
    nadam = optim.NAdam(params, lr=0.01)
    _train(nadam, params, 1)
    with pytest.raises(ValueError, match="state 'mu_product' that Adam does not keep.*'momentum_decay'"):
        optim.Adam(_params()).load_state_dict(nadam.state_dict())


def test_torch_state_dict_of_another_class_is_rejected() -> None:
    params = _params()
    theirs = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    _train(theirs, params, 1)
    ours = optim.RMSprop(_params(), lr=0.01)
    before = _snapshot(ours)
    with pytest.raises(ValueError, match="RMSprop needs"):
        ours.load_state_dict(theirs.state_dict())
    _assert_same_state_dict(ours.state_dict(), before)


def test_missing_state_entries_or_groups_are_reported() -> None:
    opt = optim.SGD(_params(), lr=0.1)
    with pytest.raises(KeyError, match="no 'param_groups' entry"):
        opt.load_state_dict({"state": {}})
    with pytest.raises(KeyError, match="no 'state' entry"):
        opt.load_state_dict({"param_groups": opt.state_dict()["param_groups"]})
    bad = opt.state_dict()
    bad["state"] = {0: ["not", "a", "dict"]}
    with pytest.raises(TypeError, match="parameter 0 in group 0 must be a dict"):
        opt.load_state_dict(bad)


# ------------------------------------------------------------------------------ accepted dicts


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                                  "RAdam", "ASGD", "Rprop", "Adafactor"])
def test_torch_state_dict_of_the_same_class_loads(name: str) -> None:
    kwargs: dict[str, Any] = {"lr": 0.01}
    if name in ("SGD", "RMSprop"):
        kwargs["momentum"] = 0.9
    params = _params()
    theirs = getattr(torch.optim, name)(params, **kwargs)
    _train(theirs, params, 2, skip_last=True)
    ours = getattr(optim, name)(_params(), **kwargs)
    ours.load_state_dict(theirs.state_dict())
    # And back: torch loads ours.
    getattr(torch.optim, name)(_params(), **kwargs).load_state_dict(ours.state_dict())


def test_old_torch_checkpoint_without_newer_options_and_with_number_steps_loads() -> None:
    params = _params()
    theirs = torch.optim.Adam(params, lr=0.01)
    _train(theirs, params, 2)
    old = copy.deepcopy(theirs.state_dict())
    for group in old["param_groups"]:
        for key in ("decoupled_weight_decay", "fused", "capturable", "differentiable", "foreach", "maximize", "amsgrad"):
            del group[key]
    for state in old["state"].values():
        state["step"] = int(state["step"].item())
    ours = optim.Adam(_params(), lr=0.01)
    ours.load_state_dict(old)
    assert ours.param_groups[0]["amsgrad"] is False
    assert torch.is_tensor(ours.state[ours.param_groups[0]["params"][0]]["step"])
    _train(ours, ours.param_groups[0]["params"], 1)


def test_old_torch_sgd_checkpoint_with_none_buffers_loads() -> None:
    """torch 1.x stored ``momentum_buffer: None`` for every parameter when momentum was 0."""
    old = {
        "state": {0: {"momentum_buffer": None}, 1: {"momentum_buffer": None}, 2: {"momentum_buffer": None}},
        "param_groups": [{"lr": 0.1, "momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False,
                          "params": [0, 1, 2]}],
    }
    opt = optim.SGD(_params(), lr=0.5)
    opt.load_state_dict(old)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["maximize"] is False
    _train(opt, opt.param_groups[0]["params"], 1)


def test_old_sparse_adam_checkpoint_without_maximize_loads() -> None:
    """torch reads SparseAdam's `maximize` with a default, so a checkpoint from before the option
    loads there; it loads here too."""
    params = _params()
    theirs = torch.optim.SparseAdam(params, lr=0.01)
    _train(theirs, params, 2, sparse=True)
    old = copy.deepcopy(theirs.state_dict())
    del old["param_groups"][0]["maximize"]
    ours = optim.SparseAdam(_params(), lr=0.01)
    ours.load_state_dict(old)
    _train(ours, ours.param_groups[0]["params"], 1, sparse=True)


@pytest.mark.parametrize("subject", _subject_ids())
def test_own_state_dict_loads_with_parameters_without_state(subject: Subject) -> None:
    """A parameter that never had a gradient has no state (or an empty one) in the dict."""
    params = _params()
    source = subject.trained(params, 2, skip_last=not subject.sparse)
    saved = copy.deepcopy(source.state_dict())
    for index, state in list(saved["state"].items()):
        if subject.entry is not None and subject.entry not in state and not state:
            saved["state"][index] = {}
    target = subject.build(_params())
    target.load_state_dict(saved)
    _assert_same_state_dict(target.state_dict(), source.state_dict())


def test_state_saved_before_any_step_loads() -> None:
    fresh = optim.Adam(_params(), lr=0.01)
    target = optim.Adam(_params(), lr=0.01)
    target.load_state_dict(fresh.state_dict())
    preinitialized = optim.Adam(_params(), lr=0.01)
    preinitialized.preinitialize()
    target.load_state_dict(preinitialized.state_dict())
    assert len(target.state) == 3


def test_global_step_may_be_present_or_missing() -> None:
    params = _params()
    counting = optim.Adam(params, lr=0.01)
    counting.enable_global_step = True
    _train(counting, params, 2)
    plain = optim.Adam(_params(), lr=0.01)
    plain.load_state_dict(counting.state_dict())  # an extra `global_step`
    theirs = torch.optim.Adam(_params(), lr=0.01)
    theirs.load_state_dict(counting.state_dict())
    counting_target = cerebras.Adagrad(_params(), lr=0.01)  # global step on, preinitialized
    torch_params = _params()
    torch_adagrad = torch.optim.Adagrad(torch_params, lr=0.01)
    _train(torch_adagrad, torch_params, 1)
    counting_target.load_state_dict(torch_adagrad.state_dict())  # no `global_step` at all
    _train(counting_target, counting_target.param_groups[0]["params"], 1)
    assert counting_target.state[counting_target.param_groups[0]["params"][0]]["global_step"].item() == 1


def test_group_options_added_by_schedulers_are_accepted() -> None:
    params = _params()
    source = optim.SGD(params, lr=0.1, momentum=0.9)
    torch.optim.lr_scheduler.StepLR(source, step_size=2)  # adds `initial_lr` to every group
    _train(source, params, 1)
    target = optim.SGD(_params(), lr=0.1, momentum=0.9)
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["initial_lr"] == 0.1


@pytest.mark.parametrize("direction", ["torch_to_optimkit", "optimkit_to_torch", "optimkit_to_optimkit"])
def test_lbfgs_global_state_loads(direction: str) -> None:
    source_cls = torch.optim.LBFGS if direction == "torch_to_optimkit" else optim.LBFGS
    target_cls = torch.optim.LBFGS if direction == "optimkit_to_torch" else optim.LBFGS
    params = _params()
    source = source_cls(params, lr=0.1, history_size=3, max_iter=4)
    _train(source, params, 2, closure=True)
    target = target_cls(_params(), lr=0.1, history_size=3, max_iter=4)
    target.load_state_dict(source.state_dict())
    _train(target, target.param_groups[0]["params"], 1, closure=True)


@pytest.mark.parametrize("direction", ["torch_to_optimkit", "optimkit_to_torch"])
def test_sparse_adam_int_step_loads(direction: str) -> None:
    source_cls, target_cls = (torch.optim.SparseAdam, optim.SparseAdam)
    if direction == "optimkit_to_torch":
        source_cls, target_cls = target_cls, source_cls
    params = _params()
    source = source_cls(params, lr=0.01)
    _train(source, params, 2, sparse=True)
    target = target_cls(_params(), lr=0.01)
    target.load_state_dict(source.state_dict())
    _train(target, target.param_groups[0]["params"], 1, sparse=True)


@pytest.mark.parametrize("name", ["AdamW", "Adam", "SGD", "Adagrad", "NAdam", "RAdam", "ASGD", "RMSprop"])
def test_cerebras_state_dicts_load_both_ways(name: str) -> None:
    kwargs = {"lr": 0.01}
    params = _params()
    ours = getattr(cerebras, name)(params, **kwargs)
    _train(ours, params, 2)
    getattr(cerebras, name)(_params(), **kwargs).load_state_dict(ours.state_dict())
    getattr(torch.optim, name)(_params(), **kwargs).load_state_dict(ours.state_dict())
    torch_params = _params()
    theirs = getattr(torch.optim, name)(torch_params, **kwargs)
    _train(theirs, torch_params, 2)
    target = getattr(cerebras, name)(_params(), **kwargs)
    target.load_state_dict(theirs.state_dict())
    _train(target, target.param_groups[0]["params"], 1)


# ------------------------------------------------------------------------------------- hooks


def test_pre_hooks_run_once_and_their_result_is_checked() -> None:
    params = _params()
    source = optim.SGD(params, lr=0.1, momentum=0.9)
    _train(source, params, 1)
    broken = copy.deepcopy(source.state_dict())
    del broken["state"][0]["momentum_buffer"]
    calls: list[str] = []

    def repair(opt: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        calls.append("repair")
        fixed = copy.deepcopy(state_dict)
        fixed["state"][0]["momentum_buffer"] = torch.zeros(4, 3)
        fixed["param_groups"][0]["lr"] = 0.25
        return fixed

    target = optim.SGD(_params(), lr=0.1, momentum=0.9)
    target.register_load_state_dict_pre_hook(repair)
    target.register_load_state_dict_post_hook(lambda opt: calls.append("post"))
    target.load_state_dict(broken)  # the hook's repaired dict is what gets checked and loaded
    assert calls == ["repair", "post"]
    assert target.param_groups[0]["lr"] == 0.25

    def breaker(opt: torch.optim.Optimizer, state_dict: dict[str, Any]) -> None:
        state_dict["param_groups"] = state_dict["param_groups"] * 2

    target.register_load_state_dict_pre_hook(breaker)
    before = _snapshot(target)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        target.load_state_dict(source.state_dict())
    _assert_same_state_dict(target.state_dict(), before)
    assert calls == ["repair", "post", "repair"]
    # The hooks stay registered after a failed load.
    assert len(target._optimizer_load_state_dict_pre_hooks) == 2


@pytest.mark.parametrize("subject", _subject_ids())
def test_loading_the_same_dict_again(subject: Subject) -> None:
    """torch's loader adds a `differentiable` entry to ``defaults`` of optimizers without that
    option (LBFGS); it is no group option a second load must find."""
    params = _params()
    opt = subject.trained(params, 2)
    saved = copy.deepcopy(opt.state_dict())
    for lr in (0.002, 0.003):
        saved["param_groups"][0]["lr"] = lr
        opt.load_state_dict(saved)
        assert opt.param_groups[0]["lr"] == lr
    _train(opt, params, 1, sparse=subject.sparse, closure=subject.closure)


def test_hook_handles_keep_working_across_a_load() -> None:
    opt = optim.Adam(_params(), lr=0.01)
    calls: list[str] = []
    first = opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("first"))
    late: list[Any] = []
    # A post-hook that registers a pre-hook while torch's loader runs.
    opt.register_load_state_dict_post_hook(
        lambda o: late.append(o.register_load_state_dict_pre_hook(lambda o2, sd: calls.append("late"))) if not late else None
    )
    opt.load_state_dict(opt.state_dict())
    assert calls == ["first"]
    opt.load_state_dict(opt.state_dict())
    assert calls == ["first", "first", "late"]
    first.remove()
    late[0].remove()
    opt.load_state_dict(opt.state_dict())
    assert calls == ["first", "first", "late"]
