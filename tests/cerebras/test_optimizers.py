"""The Cerebras optimizers: documented signatures and defaults, thin facades over optimkit.optim,
pre-initialised state equal to lazy state, and the updates of every class against an oracle that
shares no code with optimkit: torch.optim's class of the same algorithm where torch has one, the
per-element references of tests/cerebras/_references.py (Lamb, Lion, AdamW without bias
correction, the Hugging Face-style Adafactor) otherwise."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import pytest
import torch
from torch import Tensor

import optimkit.cerebras.optim as cs
import optimkit.optim as ok
from optimkit.registry import list_optimizers, optimizer_specs
from tests.cerebras._references import (
    Trajectory, adamw_no_correction_reference, as_tensor, hf_adafactor_reference, lamb_reference, lion_reference,
)

REQUIRED = inspect.Parameter.empty

# cerebras.pytorch.optim as documented (training-docs.cerebras.ai, cerebras.pytorch.optim; the
# signatures of the 2.x releases): argument names in order, and their defaults.
DOCUMENTED: dict[str, list[tuple[str, Any]]] = {
    "ASGD": [("lr", 1e-2), ("lambd", 1e-4), ("alpha", 0.75), ("t0", 1e6), ("weight_decay", 0),
             ("maximize", False)],
    "Adadelta": [("lr", 1.0), ("rho", 0.9), ("eps", 1e-6), ("weight_decay", 0), ("maximize", False)],
    "Adafactor": [("lr", REQUIRED), ("eps", (1e-30, 1e-3)), ("clip_threshold", 1.0), ("decay_rate", -0.8),
                  ("beta1", None), ("weight_decay", 0.0), ("scale_parameter", True), ("relative_step", False),
                  ("warmup_init", False)],
    "Adagrad": [("lr", 1e-2), ("lr_decay", 0), ("weight_decay", 0), ("initial_accumulator_value", 0),
                ("eps", 1e-6), ("maximize", False)],
    "Adam": [("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0.0), ("amsgrad", False)],
    "AdamW": [("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0.0),
              ("correct_bias", True), ("amsgrad", False)],
    "Adamax": [("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0.0), ("maximize", False)],
    "Lamb": [("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0), ("adam", False)],
    "Lion": [("lr", 1e-4), ("betas", (0.9, 0.99)), ("weight_decay", 0.0)],
    "NAdam": [("lr", 2e-3), ("betas", (0.9, 0.999)), ("eps", 1e-8), ("weight_decay", 0),
              ("momentum_decay", 4e-3)],
    "RAdam": [("lr", 1e-3), ("betas", (0.9, 0.999)), ("eps", 1e-6), ("weight_decay", 0.0)],
    "RMSprop": [("lr", 1e-2), ("alpha", 0.99), ("eps", 1e-8), ("weight_decay", 0), ("momentum", 0),
                ("centered", False)],
    "Rprop": [("lr", 1e-3), ("etas", (0.5, 1.2)), ("step_sizes", (1e-6, 50.0))],
    "SGD": [("lr", REQUIRED), ("momentum", 0), ("dampening", 0), ("weight_decay", 0), ("nesterov", False),
            ("maximize", False)],
}
# The exported classes that are no optimizer of their own: Cerebras' abstract bases.
ABSTRACT_BASES = {"Optimizer", "AdamBase"}
# The classes Cerebras constructs with enable_global_step=True.
GLOBAL_STEP = {"ASGD", "Adafactor", "Adagrad", "NAdam", "RAdam"}

# Configurations for the generic tests (required arguments included), several per optimizer.
CONFIGS: dict[str, list[dict[str, Any]]] = {
    "ASGD": [{}, {"lr": 0.05, "t0": 2, "weight_decay": 0.1, "maximize": True}],
    "Adadelta": [{}, {"lr": 0.5, "weight_decay": 0.1, "maximize": True}],
    "Adafactor": [{"lr": 1e-2}, {"lr": 1e-2, "beta1": 0.9, "weight_decay": 0.1, "scale_parameter": False},
                  {"lr": None, "relative_step": True, "warmup_init": True, "clip_threshold": 0.5}],
    "Adagrad": [{}, {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}],
    "Adam": [{}, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}],
    "AdamW": [{}, {"lr": 0.01, "weight_decay": 0.1, "correct_bias": False}, {"amsgrad": True}],
    "Adamax": [{}, {"lr": 0.01, "weight_decay": 0.1, "maximize": True}],
    "Lamb": [{}, {"lr": 0.01, "weight_decay": 0.1}, {"adam": True}],
    "Lion": [{}, {"lr": 0.01, "weight_decay": 0.1}],
    "NAdam": [{}, {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}],
    "RAdam": [{}, {"lr": 0.01, "weight_decay": 0.1}],
    "RMSprop": [{}, {"momentum": 0.9, "centered": True, "weight_decay": 0.1}],
    "Rprop": [{}, {"lr": 0.01, "etas": (0.4, 1.3), "step_sizes": (1e-4, 1.0)}],
    "SGD": [{"lr": 0.1}, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}],
}
CASES = [(name, config) for name, configs in CONFIGS.items() for config in configs]


def _case_id(case: Any) -> str:
    if isinstance(case, dict):
        return ",".join(f"{k}={v}" for k, v in case.items()) or "defaults"
    return str(case)


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (2, 3, 2), (4,)]
    return [torch.nn.Parameter(torch.randn(s, dtype=torch.float64, generator=g)) for s in shapes]


def _grads(params: list[Tensor], steps: int, seed: int = 1) -> list[list[Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, dtype=p.dtype, generator=g) for p in params] for _ in range(steps)]


# ------------------------------------------------------------------------ the documented API
def test_registry_lists_every_documented_optimizer() -> None:
    classes = {spec.cls.__name__ for spec in optimizer_specs(namespace="cerebras")}
    assert classes == set(DOCUMENTED)
    exported = {
        name for name in cs.__all__
        if inspect.isclass(getattr(cs, name)) and issubclass(getattr(cs, name), torch.optim.Optimizer)
    } - ABSTRACT_BASES
    assert exported == set(DOCUMENTED)
    assert list_optimizers(namespace="cerebras") == sorted(name.lower() for name in DOCUMENTED)
    # The torch-facing registry is untouched by the Cerebras classes.
    assert all(spec.cls.__module__.startswith("optimkit.optim") for spec in optimizer_specs())


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_signature_and_defaults_as_documented(name: str) -> None:
    parameters = list(inspect.signature(getattr(cs, name).__init__).parameters.values())
    assert [p.name for p in parameters[:2]] == ["self", "params"]
    assert [(p.name, p.default) for p in parameters[2:]] == DOCUMENTED[name]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_defaults_and_global_step(name: str) -> None:
    cls = getattr(cs, name)
    required = {key: 0.1 for key, default in DOCUMENTED[name] if default is REQUIRED}
    opt = cls([torch.nn.Parameter(torch.zeros(2, 2))], **required)
    for key, default in DOCUMENTED[name]:
        assert opt.defaults[key] == (0.1 if default is REQUIRED else default), key
    assert opt.enable_global_step is (name in GLOBAL_STEP)
    assert isinstance(opt, cs.Optimizer) and isinstance(opt, torch.optim.Optimizer)


@pytest.mark.parametrize("name", sorted(set(DOCUMENTED) - {"Adafactor"}))
def test_facades_reuse_the_optimkit_rule(name: str) -> None:
    cls, parent = getattr(cs, name), getattr(ok, name)
    assert issubclass(cls, parent)
    assert cls._rule is parent._rule and "_rule" not in vars(cls)


def test_adafactor_rule_is_written_once() -> None:
    from optimkit.optim._hf_adafactor import hf_adafactor_rule

    assert cs.Adafactor._rule is hf_adafactor_rule


# ------------------------------------------------------ against torch.optim, step by step
# Each Cerebras class, built with only the arguments a user would pass (its own defaults for the
# rest), must follow torch.optim's class of the same algorithm built with the *documented*
# Cerebras values spelled out (DOCUMENTED above, written from Cerebras' reference, not read from
# optimkit): this checks the update rule against an implementation that shares no code with
# optimkit, and the Cerebras defaults (eps=1e-6, lr=1e-3 for Adamax/Rprop, AdamW's
# weight_decay=0.0, ...) at the same time.
TORCH_CONFIGS: dict[str, list[dict[str, Any]]] = {
    "ASGD": [{}, {"lr": 0.05, "lambd": 1e-3, "alpha": 0.5, "t0": 3, "weight_decay": 0.1, "maximize": True}],
    "Adadelta": [{}, {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1, "maximize": True}],
    "Adagrad": [{}, {"lr": 0.05, "lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.02,
                     "eps": 1e-4, "maximize": True}],
    "Adam": [{}, {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1},
             {"lr": 0.01, "amsgrad": True}],
    "AdamW": [{}, {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1, "correct_bias": True},
              {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}],
    "Adamax": [{}, {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1, "maximize": True}],
    "NAdam": [{}, {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1, "momentum_decay": 0.02}],
    # In 10 steps both branches run: rho_t <= 5 for steps 1-5 (SGD-like), rectified from step 6 on.
    "RAdam": [{}, {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1}],
    "RMSprop": [{}, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.7},
                {"momentum": 0.5, "centered": True}],
    "Rprop": [{}, {"lr": 0.01, "etas": (0.4, 1.3), "step_sizes": (1e-4, 0.02)}],
    "SGD": [{"lr": 0.1}, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05},
            {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05, "maximize": True},
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}],
}
# (Within a configuration the values differ, so that two arguments swapped on the way to the rule
# cannot go unnoticed.)
TORCH_CASES = [(name, config) for name, configs in TORCH_CONFIGS.items() for config in configs]
# The classes torch.optim does not have (or has as another algorithm): checked against the
# per-element references in tests/cerebras/_references.py further down.
REFERENCE_ONLY = {"Adafactor", "Lamb", "Lion"}
STEPS = 10
# float64 throughout: the two implementations may only differ by rounding.
RTOL, ATOL = 1e-12, 1e-14


def _documented(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Every argument of ``name`` with Cerebras' documented default, overridden by ``config``."""
    return {**{key: default for key, default in DOCUMENTED[name] if default is not REQUIRED}, **config}


def _torch_kwargs(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The arguments of torch.optim.<name> that run Cerebras' ``name(**config)``."""
    kwargs = _documented(name, config)
    if name == "AdamW":
        assert kwargs.pop("correct_bias") is True, "torch.optim.AdamW always corrects the bias"
    return kwargs


def test_every_cerebras_optimizer_has_an_independent_oracle() -> None:
    optimizers = {
        name for name in cs.__all__
        if inspect.isclass(getattr(cs, name)) and issubclass(getattr(cs, name), torch.optim.Optimizer)
    } - ABSTRACT_BASES
    assert optimizers == set(TORCH_CONFIGS) | REFERENCE_ONLY
    assert not set(TORCH_CONFIGS) & REFERENCE_ONLY
    assert all(hasattr(torch.optim, name) for name in TORCH_CONFIGS)


def _assert_close(actual: Any, expected: Any, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    torch.testing.assert_close(torch.as_tensor(actual), torch.as_tensor(expected), rtol=rtol, atol=atol,
                               msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize(("name", "config"), TORCH_CASES, ids=[f"{n}-{_case_id(c)}" for n, c in TORCH_CASES])
def test_steps_equal_torch_optim_with_the_documented_arguments(name: str, config: dict[str, Any]) -> None:
    ours, theirs = _params(), _params()
    opt = getattr(cs, name)(ours, **config)
    ref = getattr(torch.optim, name)(theirs, **_torch_kwargs(name, config))
    for step, grads in enumerate(_grads(ours, STEPS), start=1):
        for a, b, grad in zip(ours, theirs, grads):
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
        for index, (a, b) in enumerate(zip(ours, theirs)):
            _assert_close(a.detach(), b.detach(), f"parameter {index} after step {step}")
            # The state has torch's keys (so that checkpoints cross-load) and torch's values.
            for key, value in ref.state[b].items():
                assert key in opt.state[a], f"state {key!r} missing"
                _assert_close(opt.state[a][key], value, f"state {key!r} of parameter {index} after step {step}")
    for a in ours:
        if name in GLOBAL_STEP:
            assert opt.state[a]["global_step"].dtype == torch.float32
            assert opt.state[a]["global_step"].item() == STEPS
        else:
            assert "global_step" not in opt.state[a]


def test_parameter_groups_follow_torch() -> None:
    """Per-group hyperparameters reach the rule: two groups with different settings of each."""
    ours, theirs = _params(), _params()
    groups = [{"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}, {"amsgrad": True}]
    opt = cs.Adam([{"params": ours[:2], **groups[0]}, {"params": ours[2:], **groups[1]}], lr=0.01)
    ref = torch.optim.Adam([{"params": theirs[:2], **groups[0]}, {"params": theirs[2:], **groups[1]}],
                           lr=0.01, eps=1e-6)
    for step, grads in enumerate(_grads(ours, STEPS), start=1):
        for a, b, grad in zip(ours, theirs, grads):
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
        for index, (a, b) in enumerate(zip(ours, theirs)):
            _assert_close(a.detach(), b.detach(), f"parameter {index} after step {step}")


# ------------------------------------------------------------------- preinitialize == lazy
def _state_equal(x: dict[str, Any], y: dict[str, Any]) -> None:
    assert list(x) == list(y)
    for key in x:
        torch.testing.assert_close(torch.as_tensor(x[key]), torch.as_tensor(y[key]), rtol=0, atol=0)


@pytest.mark.parametrize(("name", "config"), CASES, ids=[f"{n}-{_case_id(c)}" for n, c in CASES])
def test_preinitialize_then_step_equals_lazy_step(name: str, config: dict[str, Any]) -> None:
    cls = getattr(cs, name)
    pre_params, lazy_params = _params(), _params()
    pre = cls(pre_params, **config)
    pre.preinitialize()  # already done by the constructor; calling it again changes nothing
    lazy = cls(lazy_params, **config)
    lazy.state.clear()  # as if state were only created by the first step
    keys = {p: list(pre.state[p]) for p in pre_params}
    assert all(keys.values()) or name in ("SGD", "Lion")  # every stateful optimizer pre-created state
    for step, grads in enumerate(_grads(pre_params, 4)):
        for p, q, grad in zip(pre_params, lazy_params, grads):
            if step == 1 and p.dim() == 1:
                p.grad = q.grad = None  # a parameter that misses a step
            else:
                p.grad, q.grad = grad.clone(), grad.clone()
        pre.step()
        lazy.step()
        if step == 0:
            assert {p: list(pre.state[p]) for p in pre_params} == keys  # the first step added no key
    for p, q in zip(pre_params, lazy_params):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
        _state_equal(pre.state[p], lazy.state[q])


def test_sgd_without_momentum_has_no_state_but_the_global_step_when_asked() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    assert dict(cs.SGD([w], lr=0.1).state) == {}
    opt = cs.Adagrad([w])
    assert opt.state[w]["global_step"].dtype == torch.float32
    assert opt.state_names_to_sparsify() == ["sum"]


def test_state_dict_cross_loads_with_torch() -> None:
    ours, theirs = _params(), _params()
    opt = cs.AdamW(ours, lr=0.01, weight_decay=0.1)
    for a, grad in zip(ours, _grads(ours, 1)[0]):
        a.grad = grad
    opt.step()
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.copy_(a)
    torch_opt = torch.optim.AdamW(theirs, lr=0.01, eps=1e-6, weight_decay=0.1)
    # A copy: state_dict() hands out the optimizer's own tensors, which load_state_dict may keep.
    torch_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    for grads in _grads(ours, 3, seed=5):
        for a, b, grad in zip(ours, theirs, grads):
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        torch_opt.step()
    assert torch_opt.state[theirs[0]]["step"].item() == 4
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------- a Cerebras-style subclass
class _Momentum(cs.Optimizer):
    """Heavy-ball SGD written against the abstract base, the way Cerebras documents it."""

    def __init__(self, params: Any, lr: float = 0.1, momentum: float = 0.9) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum}, enable_global_step=True)

    def preinitialize(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["buf"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.increment_global_step(p)
                    buf = self.state[p]["buf"]
                    buf.mul_(group["momentum"]).add_(p.grad)
                    p.add_(buf, alpha=-group["lr"])


def test_custom_subclass_gets_state_and_global_step_from_the_constructor() -> None:
    w = torch.nn.Parameter(torch.ones(3))
    opt = _Momentum([w])
    assert sorted(opt.state[w]) == ["buf", "global_step"]
    assert opt.state_names_to_sparsify() == []  # its state is not optimkit's: nothing is known
    for _ in range(3):
        w.grad = torch.ones(3)
        opt.step()
    assert opt.state[w]["global_step"].item() == 3
    # buf: 1, 1.9, 2.71 -> w = 1 - 0.1 * 5.61
    torch.testing.assert_close(w.detach(), torch.full((3,), 1 - 0.561))


def test_base_keeps_step_and_preinitialize_abstract() -> None:
    class OnlyStep(cs.Optimizer):
        def step(self, closure: Any = None) -> None:
            pass

    with pytest.raises(TypeError, match="preinitialize"):
        OnlyStep([torch.nn.Parameter(torch.ones(1))], {})
    assert cs.Optimizer.__abstractmethods__ == frozenset({"preinitialize", "step"})


# --------------------------------------------------- per-element references: no torch class
def _flat(t: Tensor) -> list[float]:
    return t.detach().reshape(-1).tolist()


def _check_against(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], all_grads: list[list[Tensor]],
                   trajectories: list[Trajectory], *, rtol: float = RTOL, atol: float = ATOL,
                   state_atol: float | None = None) -> None:
    """Step ``opt`` through ``all_grads`` and compare every parameter and every recorded state with
    its reference trajectory after every step."""
    for step, grads in enumerate(all_grads, start=1):
        for p, grad in zip(params, grads):
            p.grad = grad.clone()
        opt.step()
        for index, (p, expected) in enumerate(zip(params, trajectories)):
            _assert_close(p.detach().reshape(-1), as_tensor(expected.params[step - 1]),
                          f"parameter {index} after step {step}", rtol, atol)
            for key, values in expected.state.items():
                _assert_close(opt.state[p][key].reshape(-1), as_tensor(values[step - 1]),
                              f"state {key!r} of parameter {index} after step {step}", rtol,
                              atol if state_atol is None else state_atol)


def _lamb_params() -> list[torch.nn.Parameter]:
    """The usual parameters, one whose norm is above the clamp of 10 and one that starts at zero
    (trust ratio 1 on the first step)."""
    g = torch.Generator().manual_seed(3)
    big = torch.nn.Parameter(8 * torch.randn(6, dtype=torch.float64, generator=g))
    assert big.norm() > 10
    return _params() + [big, torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))]


LAMB_CONFIGS = [
    {},
    {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1},
    {"lr": 0.01, "weight_decay": 0.1, "adam": True},
]


@pytest.mark.parametrize("config", LAMB_CONFIGS, ids=_case_id)
def test_lamb_equals_reference(config: dict[str, Any]) -> None:
    params = _lamb_params()
    all_grads = _grads(params, STEPS)
    kwargs = _documented("Lamb", config)
    beta1, beta2 = kwargs.pop("betas")
    expected = [lamb_reference(_flat(p), [_flat(grads[i]) for grads in all_grads], beta1=beta1, beta2=beta2,
                               **kwargs) for i, p in enumerate(params)]
    _check_against(cs.Lamb(params, **config), params, all_grads, expected)


LION_CONFIGS = [{}, {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.1}]


@pytest.mark.parametrize("config", LION_CONFIGS, ids=_case_id)
def test_lion_equals_reference(config: dict[str, Any]) -> None:
    params = _params()
    all_grads = _grads(params, STEPS)
    all_grads[0][2][:2] = 0.0  # sign(0) = 0: these elements do not move on the first step
    kwargs = _documented("Lion", config)
    beta1, beta2 = kwargs.pop("betas")
    expected = [lion_reference(_flat(p), [_flat(grads[i]) for grads in all_grads], beta1=beta1, beta2=beta2,
                               **kwargs) for i, p in enumerate(params)]
    _check_against(cs.Lion(params, **config), params, all_grads, expected)


ADAMW_NO_CORRECTION_CONFIGS = [
    {"correct_bias": False},
    {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4, "weight_decay": 0.1, "correct_bias": False},
    {"lr": 0.01, "weight_decay": 0.1, "correct_bias": False, "amsgrad": True},
]


@pytest.mark.parametrize("config", ADAMW_NO_CORRECTION_CONFIGS, ids=_case_id)
def test_adamw_without_bias_correction_equals_reference(config: dict[str, Any]) -> None:
    params = _params()
    all_grads = _grads(params, 20)
    kwargs = _documented("AdamW", config)
    beta1, beta2 = kwargs.pop("betas")
    assert kwargs.pop("correct_bias") is False
    expected = [adamw_no_correction_reference(_flat(p), [_flat(grads[i]) for grads in all_grads], beta1=beta1,
                                              beta2=beta2, **kwargs) for i, p in enumerate(params)]
    _check_against(cs.AdamW(params, **config), params, all_grads, expected)


def test_correct_bias_is_per_group() -> None:
    """A group with ``correct_bias=False`` follows BERT's Adam; the other group is torch's AdamW."""
    ours, theirs = _params(), _params()
    opt = cs.AdamW([{"params": ours[:1], "correct_bias": False}, {"params": ours[1:]}], lr=0.01)
    ref = torch.optim.AdamW(theirs[1:], lr=0.01, eps=1e-6, weight_decay=0.0)
    all_grads = _grads(ours, STEPS)
    bert = adamw_no_correction_reference(_flat(ours[0]), [_flat(grads[0]) for grads in all_grads], lr=0.01,
                                         beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.0)
    for step, grads in enumerate(all_grads, start=1):
        for a, b, grad in zip(ours, theirs, grads):
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
        _assert_close(ours[0].detach().reshape(-1), as_tensor(bert.params[step - 1]), f"parameter 0 after step {step}")
        for index, (a, b) in enumerate(zip(ours[1:], theirs[1:]), start=1):
            _assert_close(a.detach(), b.detach(), f"parameter {index} after step {step}")
    # The two rules really differ on these steps (else the test above could not tell them apart).
    corrected = torch.optim.AdamW([theirs[0]], lr=0.01, eps=1e-6, weight_decay=0.0)
    for grads in all_grads:
        theirs[0].grad = grads[0].clone()
        corrected.step()
    assert not torch.allclose(ours[0], theirs[0], rtol=1e-3, atol=0)


# ---------------------------------------------------- Hugging Face-style Adafactor reference
ADAFACTOR_CONFIGS = [
    {"lr": 1e-2},
    {"lr": 0.05, "beta1": 0.9, "weight_decay": 0.1, "scale_parameter": False},
    {"lr": 0.05, "clip_threshold": 0.3, "decay_rate": -0.5, "eps": (1e-3, 1e-2)},
    {"lr": None, "relative_step": True},
    {"lr": None, "relative_step": True, "warmup_init": True, "beta1": 0.5},
]


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("config", ADAFACTOR_CONFIGS, ids=_case_id)
def test_hf_adafactor_equals_reference_for_20_steps(config: dict[str, Any], foreach: bool) -> None:
    params = _params() + [torch.nn.Parameter(torch.tensor(0.7, dtype=torch.float64))]
    opt = cs.Adafactor(params, **config)
    opt.param_groups[0]["foreach"] = foreach
    all_grads = _grads(params, 20)
    kwargs = _documented("Adafactor", config)
    expected = [hf_adafactor_reference(p.detach().clone(), [grads[i] for grads in all_grads], **kwargs)
                for i, p in enumerate(params)]
    _check_against(opt, params, all_grads, expected, rtol=1e-10, atol=1e-12, state_atol=1e-14)
    for p in params:
        assert opt.state[p]["step"].item() == 20 and opt.state[p]["global_step"].item() == 20


def test_hf_adafactor_state_layout_and_errors() -> None:
    w, b = torch.nn.Parameter(torch.zeros(2, 3, 4)), torch.nn.Parameter(torch.zeros(4))
    opt = cs.Adafactor([w, b], lr=0.1, beta1=0.9)
    assert list(opt.state[w]) == ["step", "exp_avg", "exp_avg_sq_row", "exp_avg_sq_col", "global_step"]
    assert opt.state[w]["exp_avg_sq_row"].shape == (2, 3) and opt.state[w]["exp_avg_sq_col"].shape == (2, 4)
    assert list(opt.state[b]) == ["step", "exp_avg", "exp_avg_sq", "global_step"]
    with pytest.raises(ValueError, match="Cannot combine manual `lr` and `relative_step=True`"):
        cs.Adafactor([w], lr=0.1, relative_step=True)
    with pytest.raises(ValueError, match="`warmup_init=True` requires `relative_step=True`"):
        cs.Adafactor([w], lr=0.1, warmup_init=True)
    with pytest.raises(ValueError, match="tuple/list of two floats"):
        cs.Adafactor([w], lr=0.1, eps=(1e-30,))
    no_lr = cs.Adafactor([w], lr=None)
    w.grad = torch.ones_like(w)
    with pytest.raises(ValueError, match="Learning rate is not set"):
        no_lr.step()
