"""The Cerebras optimizers: documented signatures and defaults, thin facades over optimkit.optim,
pre-initialised state equal to lazy state, AdamW without bias correction and the Hugging
Face-style Adafactor against independent per-element references."""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any

import pytest
import torch
from torch import Tensor

import optimkit.cerebras.optim as cs
import optimkit.optim as ok
from optimkit.registry import list_optimizers, optimizer_specs

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
    } - {"Optimizer"}
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


# Cerebras' defaults, passed explicitly to the optimkit class: the trajectories must be identical.
OPTIMKIT_EQUIVALENT: dict[str, dict[str, Any]] = {
    "ASGD": {}, "Adadelta": {}, "Adagrad": {"eps": 1e-6}, "Adam": {"eps": 1e-6},
    "AdamW": {"eps": 1e-6, "weight_decay": 0.0}, "Adamax": {"lr": 1e-3, "eps": 1e-6}, "Lamb": {}, "Lion": {},
    "NAdam": {}, "RAdam": {"eps": 1e-6}, "RMSprop": {}, "Rprop": {"lr": 1e-3}, "SGD": {"lr": 0.1},
}


@pytest.mark.parametrize("name", sorted(OPTIMKIT_EQUIVALENT))
def test_steps_equal_the_optimkit_class_with_cerebras_defaults(name: str) -> None:
    ours, theirs = _params(), _params()
    required = {"lr": 0.1} if name == "SGD" else {}
    opt = getattr(cs, name)(ours, **required)
    ref = getattr(ok, name)(theirs, **OPTIMKIT_EQUIVALENT[name])
    steps = 5
    for grads in _grads(ours, steps):
        for a, b, grad in zip(ours, theirs, grads):
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
        for key, value in ref.state[b].items():
            assert torch.equal(torch.as_tensor(opt.state[a][key]), torch.as_tensor(value)), key
        if name in GLOBAL_STEP:
            assert opt.state[a]["global_step"].dtype == torch.float32
            assert opt.state[a]["global_step"].item() == steps


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


# ------------------------------------------------------- AdamW(correct_bias=False) reference
def _adamw_no_correction_reference(x: list[float], grads: list[list[float]], *, lr: float, beta1: float,
                                   beta2: float, eps: float, weight_decay: float) -> list[float]:
    """BERT's Adam, element by element: decoupled decay, no bias correction."""
    m = [0.0] * len(x)
    v = [0.0] * len(x)
    for g in grads:
        for k in range(len(x)):
            m[k] = beta1 * m[k] + (1 - beta1) * g[k]
            v[k] = beta2 * v[k] + (1 - beta2) * g[k] * g[k]
            x[k] = x[k] - lr * weight_decay * x[k] - lr * m[k] / (math.sqrt(v[k]) + eps)
    return x


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adamw_without_bias_correction_equals_reference(weight_decay: float) -> None:
    params = _params()
    start = [p.detach().reshape(-1).tolist() for p in params]
    opt = cs.AdamW(params, lr=0.01, betas=(0.8, 0.95), weight_decay=weight_decay, correct_bias=False)
    all_grads = _grads(params, 20)
    for grads in all_grads:
        for p, grad in zip(params, grads):
            p.grad = grad
        opt.step()
    for index, p in enumerate(params):
        expected = _adamw_no_correction_reference(
            start[index], [grads[index].reshape(-1).tolist() for grads in all_grads],
            lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=weight_decay,
        )
        torch.testing.assert_close(p.detach().reshape(-1), torch.tensor(expected, dtype=torch.float64),
                                   rtol=1e-10, atol=1e-12)


def test_correct_bias_makes_a_difference_and_is_per_group() -> None:
    a, b = _params(), _params()
    opt = cs.AdamW([{"params": a[:1], "correct_bias": False}, {"params": a[1:]}], lr=0.01)
    ref = ok.AdamW(b, lr=0.01, eps=1e-6, weight_decay=0.0)
    for grads in _grads(a, 3):
        for p, q, grad in zip(a, b, grads):
            p.grad, q.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
    assert not torch.allclose(a[0], b[0])
    assert all(torch.equal(p, q) for p, q in zip(a[1:], b[1:]))


# ---------------------------------------------------- Hugging Face-style Adafactor reference
def _hf_adafactor_reference(theta: Tensor, grads: list[Tensor], *, lr: float | None, eps: tuple[float, float],
                            clip_threshold: float, decay_rate: float, beta1: float | None, weight_decay: float,
                            scale_parameter: bool, relative_step: bool, warmup_init: bool,
                            ) -> tuple[list[float], list[list[float]], list[list[float]]]:
    """Element by element, in Python floats: returns the parameter and the row/column factors."""
    shape = tuple(theta.shape)
    factored = len(shape) >= 2
    n, m = (shape[-2], shape[-1]) if factored else (1, 1)
    batches = math.prod(shape[:-2]) if factored else 1
    x = theta.reshape(-1).tolist()
    size = len(x)
    rows = [[0.0] * n for _ in range(batches)]
    cols = [[0.0] * m for _ in range(batches)]
    second = [0.0] * size
    first = [0.0] * size

    def at(b: int, i: int, j: int) -> int:
        return (b * n + i) * m + j

    for t, grad in enumerate(grads, start=1):
        g = grad.reshape(-1).tolist()
        if relative_step:
            rho = min(1e-6 * t if warmup_init else 1e-2, 1 / math.sqrt(t))
        else:
            assert lr is not None
            rho = lr
        rms_x = math.sqrt(sum(value * value for value in x) / size)
        alpha = rho * max(eps[1], rms_x) if scale_parameter else rho
        beta2 = 1 - t**decay_rate
        s = [value * value + eps[0] for value in g]
        u = [0.0] * size
        if factored:
            for b in range(batches):
                for i in range(n):
                    rows[b][i] = beta2 * rows[b][i] + (1 - beta2) * sum(s[at(b, i, j)] for j in range(m)) / m
                for j in range(m):
                    cols[b][j] = beta2 * cols[b][j] + (1 - beta2) * sum(s[at(b, i, j)] for i in range(n)) / n
                row_mean = sum(rows[b]) / n
                for i in range(n):
                    for j in range(m):
                        u[at(b, i, j)] = g[at(b, i, j)] / math.sqrt(rows[b][i] * cols[b][j] / row_mean)
        else:
            for k in range(size):
                second[k] = beta2 * second[k] + (1 - beta2) * s[k]
                u[k] = g[k] / math.sqrt(second[k])
        rms_u = math.sqrt(sum(value * value for value in u) / size)
        u = [alpha * value / max(1.0, rms_u / clip_threshold) for value in u]
        if beta1 is not None:
            first = [beta1 * a + (1 - beta1) * b for a, b in zip(first, u)]
            u = first
        x = [value - weight_decay * alpha * value - step for value, step in zip(x, u)]
    return x, rows, cols


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
    start = [p.detach().clone() for p in params]
    opt = cs.Adafactor(params, **config)
    opt.param_groups[0]["foreach"] = foreach
    all_grads = _grads(params, 20)
    for grads in all_grads:
        for p, grad in zip(params, grads):
            p.grad = grad
        opt.step()
    full = {"eps": (1e-30, 1e-3), "clip_threshold": 1.0, "decay_rate": -0.8, "beta1": None, "weight_decay": 0.0,
            "scale_parameter": True, "relative_step": False, "warmup_init": False, **config}
    for index, p in enumerate(params):
        x, rows, cols = _hf_adafactor_reference(start[index], [grads[index] for grads in all_grads], **full)
        torch.testing.assert_close(p.detach().reshape(-1), torch.tensor(x, dtype=torch.float64),
                                   rtol=1e-10, atol=1e-12)
        state = opt.state[p]
        assert state["step"].item() == 20 and state["global_step"].item() == 20
        if p.dim() >= 2:
            torch.testing.assert_close(state["exp_avg_sq_row"].reshape(-1, p.shape[-2]),
                                       torch.tensor(rows, dtype=torch.float64), rtol=1e-10, atol=1e-14)
            torch.testing.assert_close(state["exp_avg_sq_col"].reshape(-1, p.shape[-1]),
                                       torch.tensor(cols, dtype=torch.float64), rtol=1e-10, atol=1e-14)


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
