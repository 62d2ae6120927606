"""The fast ``step()`` paths of StepLR, CosineAnnealingLR, CyclicLR and OneCycleLR against torch.

Those classes compute the next learning rates with the same method as ``get_lr`` but store them
without ``get_lr``'s overhead (see ``LRScheduler._step_fast`` and ``_store_lrs``, which may keep
new tensors as the copies in ``get_last_lr()``); these tests pin what that must not change, on the
layouts the fast paths special-case: float and Tensor lrs (0-dim, one-element, float64), mixed groups, groups
sharing one lr tensor, SGD's ``momentum`` and Adam's ``betas``. Compared with torch after every
step: the lrs bit for bit (sign of zero included), ``get_last_lr()`` (types, dtypes, shapes,
never aliasing a group's tensor), how often each lr tensor was written in place (its version
counter), momenta, and the state dict. Also: a subclass (or instance) overriding ``get_lr``
still has it called by ``step()``, and one overriding a piece of the rule sees it used by both.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.optim.lr_scheduler as T

import optimkit.optim.lr_scheduler as O

Factory = Callable[[Any, torch.optim.Optimizer], Any]  # (module with the classes, optimizer) -> scheduler
Layout = Callable[[], list[Any]]  # () -> the lr of each group (floats or tensors)

_F64 = torch.float64
FACTORIES: dict[str, Factory] = {
    "step": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=5),  # restarts (additive branch) at 6, 16, ...
    "cosine-floor": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "cosine-int-floor": lambda m, o: m.CosineAnnealingLR(o, T_max=4, eta_min=0),
    "cosine-negative-zero-floor": lambda m, o: m.CosineAnnealingLR(o, T_max=6, eta_min=-0.0),
    # A Tensor floor promotes a float32 lr's arithmetic to float64: the result is no copy of the lr.
    "cosine-tensor-floor": lambda m, o: m.CosineAnnealingLR(o, T_max=6, eta_min=torch.tensor(0.0, dtype=_F64)),
    "step-tensor-gamma": lambda m, o: m.StepLR(o, step_size=3, gamma=torch.tensor(0.5, dtype=_F64)),
    "cyclic": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=3, step_size_down=2),
    "cyclic-triangular2": lambda m, o: m.CyclicLR(o, base_lr=[0.001, 0.002], max_lr=0.1, step_size_up=2,
                                                  mode="triangular2"),
    "cyclic-exp-range": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=4, mode="exp_range",
                                                gamma=0.9),
    "cyclic-custom": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=3,
                                             scale_fn=lambda x: 0.8**x, scale_mode="iterations"),
    "cyclic-no-momentum": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=3,
                                                  cycle_momentum=False),
    "onecycle": lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=40),
    "onecycle-linear": lambda m, o: m.OneCycleLR(o, max_lr=[0.1, 0.05], total_steps=40, anneal_strategy="linear"),
    "onecycle-three-phase": lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=40, three_phase=True),
    "onecycle-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=40, cycle_momentum=False),
}


def _shared() -> list[Any]:
    lr = torch.tensor(0.1)
    return [lr, lr]


LAYOUTS: dict[str, Layout] = {
    "float": lambda: [0.1, 0.02],
    "tensor": lambda: [torch.tensor(0.1), torch.tensor(0.02)],
    "tensor-1-element": lambda: [torch.tensor([0.1]), torch.tensor([0.02])],
    "tensor-float64": lambda: [torch.tensor(0.1, dtype=torch.float64), torch.tensor(0.02, dtype=torch.float64)],
    "mixed": lambda: [0.1, torch.tensor(0.02)],
    "shared-tensor": _shared,
    "negative-zero": lambda: [torch.tensor(-0.0), -0.0],
}


def _optimizer(kind: str, lrs: list[Any]) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    return torch.optim.Adam(groups, lr=0.1, foreach=False)


def _bits(value: Any) -> tuple[Any, ...]:
    """A value as comparable data: its kind, dtype, shape, float value and sign (for -0.0)."""
    if isinstance(value, torch.Tensor):
        number = value.item()
        return ("tensor", value.dtype, tuple(value.shape), number, math.copysign(1.0, number))
    return (type(value).__name__, value, math.copysign(1.0, value))


def _observe(opt: torch.optim.Optimizer, sched: Any) -> dict[str, Any]:
    groups = opt.param_groups
    last = sched.get_last_lr()
    for value in last:  # copies, never the groups' own tensors
        assert not isinstance(value, torch.Tensor) or all(value is not g["lr"] for g in groups)
    return {
        "lr": [_bits(g["lr"]) for g in groups],
        "last_lr": [_bits(v) for v in last],
        "versions": [g["lr"]._version if isinstance(g["lr"], torch.Tensor) else None for g in groups],
        "momentum": [_bits(g["momentum"]) if "momentum" in g else _bits(g["betas"][0]) for g in groups],
        "last_epoch": sched.last_epoch,
    }


def _state(sched: Any) -> dict[str, Any]:
    state = sched.state_dict()
    state.pop("hold_final_lr", None)  # OneCycleLR's addition
    state.pop("_scale_fn_ref", None)  # torch keeps a function, optimkit rebuilds it from ``mode``
    state.pop("_scale_fn_custom", None)  # torch keeps the function, optimkit plain data
    return state


def _same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, list) and x and isinstance(x[0], torch.Tensor):
            if [_bits(v) for v in x] != [_bits(v) for v in y]:
                return False
        elif x != y:
            return False
    return True


def _run(module: Any, kind: str, layout: Layout, factory: Factory, steps: int) -> tuple[list[Any], dict[str, Any]]:
    opt = _optimizer(kind, layout())
    tensors = [g["lr"] for g in opt.param_groups]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the call-order warning (optimizer.step() is not called)
        sched = factory(module, opt)
        seen = [_observe(opt, sched)]
        for _ in range(steps):
            sched.step()
            seen.append(_observe(opt, sched))
    # Tensor lrs are updated in place, never replaced.
    assert all(g["lr"] is t for g, t in zip(opt.param_groups, tensors) if isinstance(t, torch.Tensor))
    return seen, _state(sched)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_fast_step_paths_equal_torch(name: str, layout: str, kind: str) -> None:
    steps = 38  # OneCycleLR's 40 steps, and several decays, restarts and cycles of the others
    ours, our_state = _run(O, kind, LAYOUTS[layout], FACTORIES[name], steps)
    theirs, their_state = _run(T, kind, LAYOUTS[layout], FACTORIES[name], steps)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, (step, a, b)
    assert _same_state(our_state, their_state), (our_state, their_state)


def test_one_cycle_past_the_end_raises_torchs_error_and_leaves_the_lr() -> None:
    for module in (O, T):
        opt = _optimizer("sgd", [torch.tensor(0.1)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = module.OneCycleLR(opt, max_lr=0.1, total_steps=3)
            for _ in range(3):
                sched.step()
            lr, version = opt.param_groups[0]["lr"].item(), opt.param_groups[0]["lr"]._version
            with pytest.raises(ValueError, match="Tried to step 4 times"):
                sched.step()
        assert (opt.param_groups[0]["lr"].item(), opt.param_groups[0]["lr"]._version) == (lr, version)
        assert sched.last_epoch == 4


@pytest.mark.parametrize("name", ["step", "cosine", "cyclic", "onecycle"])
def test_an_overridden_get_lr_is_still_called(name: str) -> None:
    base = type(FACTORIES[name](O, _optimizer("sgd", [0.1, 0.02])))
    calls: list[bool] = []

    class Halving(base):  # type: ignore[valid-type, misc]
        def get_lr(self) -> list[Any]:
            calls.append(self._get_lr_called_within_step)
            return [0.5 * lr for lr in super().get_lr()]

    opt = _optimizer("sgd", [0.1, 0.02])
    sched = FACTORIES[name](lambda_module(Halving), opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched.step()
    assert calls and all(calls)  # called by step(), flagged as such (no get_lr() warning)
    assert not sched._get_lr_called_within_step

    # An instance attribute, e.g. a patched method, is called too (as torch calls self.get_lr()).
    plain = FACTORIES[name](O, _optimizer("sgd", [0.1, 0.02]))
    plain.get_lr = lambda: [1.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain.step()
    assert plain.get_last_lr() == [1.0, 2.0]


class lambda_module:  # noqa: N801 - stands in for a module whose classes are one subclass
    """A module-like object whose every scheduler class name resolves to ``cls``."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def __getattr__(self, name: str) -> Any:
        return self.cls


def test_get_lr_called_by_the_user_still_warns() -> None:
    opt = _optimizer("sgd", [0.1])
    sched = O.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


# A piece of the rule overridden in a subclass, the steps to take, and the lr it then gives every
# group (whose lr is 0.1 or 0.02 before). The fast step path and get_lr compute the values with
# the same methods, so the override is used by both.
OVERRIDES: list[tuple[str, str, Any, int, float]] = [
    ("step", "_scaled", lambda self, factor: [7.0] * len(self.optimizer.param_groups), 3, 7.0),
    ("step", "_unchanged", lambda self: [5.0] * len(self.optimizer.param_groups), 1, 5.0),
    ("cyclic", "_triangle", lambda self, t: (1, 0.5), 1, 0.001 + (0.1 - 0.001) * 0.5),
    ("cyclic", "scale_fn", lambda self, x: 0.0, 2, 0.001),
    ("onecycle", "_annealing_cos", staticmethod(lambda start, end, pct: 0.25), 2, 0.25),
    ("onecycle", "_anneal_func", lambda self, start, end, pct: 0.5, 2, 0.5),
    ("onecycle", "_clamped", lambda self, step: 0, 5, 0.1 / 25),
]


@pytest.mark.parametrize(("name", "method", "override", "steps", "lr"), OVERRIDES,
                         ids=[f"{name}-{method}" for name, method, *_ in OVERRIDES])
def test_an_overridden_piece_of_the_rule_is_used_by_step_and_get_lr(
    name: str, method: str, override: Any, steps: int, lr: float
) -> None:
    base = type(FACTORIES[name](O, _optimizer("sgd", [0.1, 0.02])))
    overriding = type("Overriding", (base,), {method: override})
    sched = FACTORIES[name](lambda_module(overriding), _optimizer("sgd", [0.1, 0.02]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            sched.step()
        assert sched.get_last_lr() == pytest.approx([lr, lr])
        assert sched.get_lr() == pytest.approx([lr, lr])  # the same rule, at the same step


def test_one_cycle_anneal_func_override_can_call_the_parents() -> None:
    # torch's hook: an override that delegates to OneCycleLR._anneal_func does not recurse.
    class Doubling(O.OneCycleLR):
        def _anneal_func(self, start: Any, end: Any, pct: float) -> Any:
            return 2 * super()._anneal_func(start, end, pct)

    plain = O.OneCycleLR(_optimizer("sgd", [0.1]), max_lr=0.1, total_steps=10)
    doubled = Doubling(_optimizer("sgd", [0.1]), max_lr=0.1, total_steps=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            plain.step()
            doubled.step()
    assert doubled.get_last_lr() == [2 * plain.get_last_lr()[0]]
