"""State dicts of optimkit.optim.lr_scheduler: torch's format in both directions, torch's legacy
forms, and bad state dicts rejected before anything changes.

* a state dict saved by torch's scheduler loads into ours (and ours into torch's) mid-run, and
  the two continue with equal values;
* legacy forms torch accepts still load (``verbose``, OneCycleLR's ``anneal_func``,
  ReduceLROnPlateau without ``default_min_lr`` / ``_last_lr``);
* a state dict of another class, with missing keys, wrong types or per-group lists of the wrong
  length raises KeyError / TypeError / ValueError naming the problem, and the scheduler (and
  every child of a composite one) is left exactly as it was;
* the CyclicLR / OneCycleLR fixes found by torch's own tests (custom ``scale_fn`` restored,
  picklable state, the legacy OneCycleLR state dict, Tensor bounds not aliased), against torch.
"""

from __future__ import annotations

import copy
import gc
import pickle
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.optim.lr_scheduler as T

import optimkit.optim as ok
import optimkit.optim.lr_scheduler as O
from optimkit import schedules
from tests.optim.test_lr_scheduler import CASES, CYCLIC, ONECYCLE, _groups, _round_trip, _snapshot, make_opt

pytestmark = pytest.mark.filterwarnings("ignore:The epoch parameter:UserWarning")

Factory = Callable[[Any, Any], Any]


def _plateau(m: Any, o: Any) -> Any:
    return m.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=[1e-4, 0.0])


ALL_CASES: list[tuple[str, Factory]] = CASES + CYCLIC + ONECYCLE + [("plateau", _plateau)]
_METRICS = [5.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.5] * 6


def _advance(sched: Any, opt: Any, i: int) -> None:
    opt.step()
    if isinstance(sched, (T.ReduceLROnPlateau, O.ReduceLROnPlateau)):
        sched.step(_METRICS[i % len(_METRICS)])
    else:
        sched.step()


def _kind(name: str) -> str:
    return "adam" if name.startswith("onecycle") else "sgd"


def _frozen(sched: Any) -> Any:
    """Everything a failed load must leave alone: the state and the optimizer's groups."""
    groups = [{k: v for k, v in g.items() if k != "params"} for g in sched.optimizer.param_groups]
    return copy.deepcopy((sched.state_dict(), groups))


# --------------------------------------------------------------------------------------------
# torch's state dicts load into ours, and ours into torch's
# --------------------------------------------------------------------------------------------


def _cross_load(source: Any, target: Any, name: str, factory: Factory, at: int = 60, more: int = 60) -> None:
    """Run ``source``'s scheduler ``at`` steps, load its state (through torch.save) into a fresh
    ``target`` scheduler on a copy of the optimizer, and compare the next ``more`` steps with the
    source going on."""
    kind = _kind(name)
    opt = make_opt(kind, "torch")
    sched = factory(source, opt)
    for i in range(at):
        _advance(sched, opt, i)
    opt2 = make_opt(kind, "torch")
    sched2 = factory(target, opt2)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(_round_trip(sched.state_dict()))
    for i in range(at, at + more):
        _advance(sched, opt, i)
        _advance(sched2, opt2, i)
        assert _snapshot(opt2) == _snapshot(opt), (name, i)
        assert [float(x) for x in sched2.get_last_lr()] == [float(x) for x in sched.get_last_lr()]


@pytest.mark.parametrize("name,factory", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_torch_state_dict_loads_into_ours(name: str, factory: Factory) -> None:
    _cross_load(T, O, name, factory)


@pytest.mark.parametrize("name,factory", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_our_state_dict_loads_into_torch(name: str, factory: Factory) -> None:
    _cross_load(O, T, name, factory)


def test_plateau_state_dict_has_torchs_keys_and_public_attributes() -> None:
    keys = []
    for lib, mod in (("torch", T), ("ok", O)):
        sched = _plateau(mod, make_opt("sgd", lib))
        keys.append(list(sched.state_dict()))
        for name in ("best", "num_bad_epochs", "cooldown_counter", "mode_worse", "mode", "threshold",
                     "threshold_mode", "patience", "cooldown", "factor", "eps", "min_lrs", "default_min_lr"):
            assert getattr(sched, name) == getattr(_plateau(T, make_opt("sgd", "torch")), name), name
    assert sorted(keys[1]) == sorted(keys[0])
    # The attributes are live: changing patience changes when the lr drops, as in torch.
    runs = []
    for lib, mod in (("torch", T), ("ok", O)):
        opt = make_opt("sgd", lib)
        sched = _plateau(mod, opt)
        sched.patience = 0
        for value in [1.0, 1.0, 1.0, 0.5, 0.5]:
            sched.step(value)
        runs.append((_snapshot(opt), sched.num_bad_epochs, sched.cooldown_counter, sched.in_cooldown))
    assert runs[1] == runs[0]


# --------------------------------------------------------------------------------------------
# Legacy forms that torch accepts
# --------------------------------------------------------------------------------------------


def test_legacy_verbose_key_is_accepted() -> None:
    opt = make_opt("sgd", "ok")
    sched = O.StepLR(opt, 3)
    state = dict(sched.state_dict(), verbose=False)  # torch 2.2 - 2.6 saved it
    O.StepLR(make_opt("sgd", "ok"), 5).load_state_dict(state)
    T.StepLR(make_opt("sgd", "torch"), 5).load_state_dict(state)


def test_legacy_plateau_state_without_default_min_lr_and_last_lr() -> None:
    """torch < 2.2 saved neither; the loaded scheduler keeps its own and goes on like torch's."""
    runs = []
    for lib, mod in (("torch", T), ("ok", O)):
        opt = make_opt("sgd", lib)
        sched = _plateau(mod, opt)
        for i in range(7):
            _advance(sched, opt, i)
        state = {k: v for k, v in sched.state_dict().items() if k not in ("default_min_lr", "_last_lr")}
        restored = _plateau(mod, opt)
        restored.load_state_dict(state)
        for i in range(7, 30):
            _advance(restored, opt, i)
        runs.append((_snapshot(opt), restored.best, restored.num_bad_epochs, restored.default_min_lr))
    assert runs[1] == runs[0]


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle_legacy_anneal_func_state_dict(strategy: str) -> None:
    """torch < 2.2 kept the ramp function (``anneal_func``) instead of ``_anneal_func_type``."""
    runs = []
    for lib, mod in (("torch", T), ("ok", O)):
        opt = make_opt("sgd", lib)
        sched = mod.OneCycleLR(opt, max_lr=0.5, total_steps=40, anneal_strategy=strategy)
        delattr(sched, "_anneal_func_type")
        state = sched.state_dict()
        assert "_anneal_func_type" not in state
        state["anneal_func"] = getattr(mod.OneCycleLR, f"_annealing_{strategy}")
        sched.load_state_dict(state)
        values = []
        for _ in range(39):
            opt.step()
            sched.step()
            values.append(_snapshot(opt))
        runs.append(values)
    assert runs[1] == runs[0]
    # torch's own legacy function (pickled from a torch scheduler) loads into ours as well
    opt = make_opt("sgd", "ok")
    ours = O.OneCycleLR(opt, max_lr=0.5, total_steps=40, anneal_strategy="cos")
    state = {k: v for k, v in ours.state_dict().items() if k != "_anneal_func_type"}
    state["anneal_func"] = T.OneCycleLR._annealing_linear
    ours.load_state_dict(state)
    assert ours._anneal_func_type == "linear"
    assert ours.lr_at(20) == [O.OneCycleLR._annealing_linear(0.5, 0.5 / 25 / 1e4, (20 - 11) / (39 - 11)),
                              O.OneCycleLR._annealing_linear(0.5, 0.5 / 25 / 1e4, (20 - 11) / (39 - 11))]


def test_torch_state_dict_without_hold_final_lr_keeps_ours() -> None:
    opt = make_opt("sgd", "ok")
    held = O.OneCycleLR(opt, max_lr=0.1, total_steps=10, hold_final_lr=True)
    held.load_state_dict(T.OneCycleLR(make_opt("sgd", "torch"), max_lr=0.1, total_steps=10).state_dict())
    assert held.hold_final_lr is True


# --------------------------------------------------------------------------------------------
# Bad state dicts: rejected, naming the problem, and nothing changes
# --------------------------------------------------------------------------------------------


def _sgd() -> torch.optim.Optimizer:
    return make_opt("sgd", "ok")


def _stepped(factory: Callable[[], Any], steps: int = 5) -> Any:
    sched = factory()
    for i in range(steps):
        _advance(sched, sched.optimizer, i)
    return sched


def _edit(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda state: dict(state, **{key: value})


def _drop(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda state: {k: v for k, v in state.items() if k != key}


def _child(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(state: dict[str, Any]) -> dict[str, Any]:
        children = [dict(c) for c in state["_schedulers"]]
        children[index][key] = value
        return dict(state, _schedulers=children)
    return edit


class _Scale:
    def __init__(self) -> None:
        self.rate = 0.9

    def __call__(self, x: float) -> float:
        return self.rate**x


def _seq() -> Any:
    opt = _sgd()
    return O.SequentialLR(opt, [O.LinearLR(opt, 0.5, total_iters=3), O.ExponentialLR(opt, 0.9)], [3])


def _chain() -> Any:
    opt = _sgd()
    return O.ChainedScheduler([O.StepLR(opt, 2), O.ExponentialLR(opt, 0.9)])


# (id, scheduler factory, how to spoil a good state dict of it, error type, words the message has)
BAD: list[tuple[str, Callable[[], Any], Callable[[dict[str, Any]], dict[str, Any]], type, list[str]]] = [
    ("other-class", lambda: O.ExponentialLR(_sgd(), 0.9), lambda s: O.StepLR(_sgd(), 3).state_dict(),
     KeyError, ["ExponentialLR", "step_size", "another scheduler class"]),
    ("plateau-into-step", lambda: O.StepLR(_sgd(), 3), lambda s: _plateau(O, _sgd()).state_dict(),
     KeyError, ["missing keys", "step_size", "unexpected keys", "num_bad_epochs"]),
    ("missing-key", lambda: O.StepLR(_sgd(), 3), _drop("last_epoch"), KeyError, ["missing keys", "last_epoch"]),
    ("missing-base-lrs", lambda: O.CosineAnnealingLR(_sgd(), 10), _drop("base_lrs"), KeyError, ["base_lrs"]),
    ("wrong-type-gamma", lambda: O.StepLR(_sgd(), 3), _edit("gamma", "0.5"), TypeError, ["'gamma'", "number", "str"]),
    ("wrong-type-epoch", lambda: O.StepLR(_sgd(), 3), _edit("last_epoch", None), TypeError, ["'last_epoch'"]),
    ("wrong-type-base-lrs", lambda: O.StepLR(_sgd(), 3), _edit("base_lrs", 0.1), TypeError, ["'base_lrs'"]),
    ("wrong-item-base-lrs", lambda: O.StepLR(_sgd(), 3), _edit("base_lrs", [0.1, "x"]), TypeError,
     ["'base_lrs[1]'"]),
    ("wrong-type-milestones", lambda: O.MultiStepLR(_sgd(), [2, 4]), _edit("milestones", [2, 4]), TypeError,
     ["'milestones'"]),
    ("base-lrs-length", lambda: O.StepLR(_sgd(), 3), _edit("base_lrs", [0.1, 0.1, 0.1]), ValueError,
     ["'base_lrs'", "3 entries", "2 parameter groups"]),
    ("last-lr-length", lambda: O.LinearLR(_sgd()), _edit("_last_lr", [0.1]), ValueError, ["'_last_lr'", "1 entries"]),
    ("not-a-dict", lambda: O.StepLR(_sgd(), 3), lambda s: list(s.items()), TypeError, ["expected a dict"]),
    ("lambda-count", lambda: O.LambdaLR(_sgd(), lambda t: 1.0), _edit("lr_lambdas", [None]), ValueError,
     ["'lr_lambdas'"]),
    ("lambda-entry", lambda: O.MultiplicativeLR(_sgd(), lambda t: 1.0), _edit("lr_lambdas", [None, 3]), TypeError,
     ["'lr_lambdas[1]'"]),
    ("plateau-mode", lambda: _plateau(O, _sgd()), _edit("mode", "sideways"), ValueError, ["'mode'", "sideways"]),
    ("plateau-threshold-mode", lambda: _plateau(O, _sgd()), _edit("threshold_mode", "x"), ValueError,
     ["'threshold_mode'"]),
    ("plateau-missing-best", lambda: _plateau(O, _sgd()), _drop("best"), KeyError, ["best"]),
    ("plateau-best-type", lambda: _plateau(O, _sgd()), _edit("best", "low"), TypeError, ["'best'"]),
    ("plateau-min-lrs", lambda: _plateau(O, _sgd()), _edit("min_lrs", [0.0]), ValueError, ["'min_lrs'"]),
    ("plateau-min-lrs-item", lambda: _plateau(O, _sgd()), _edit("min_lrs", [0.0, None]), TypeError,
     ["'min_lrs[1]'"]),
    ("cyclic-max-lrs", lambda: O.CyclicLR(_sgd(), 0.01, 0.1), _edit("max_lrs", [0.1]), ValueError, ["'max_lrs'"]),
    ("cyclic-momenta", lambda: O.CyclicLR(_sgd(), 0.01, 0.1), _edit("base_momentums", [0.8, "x"]), TypeError,
     ["'base_momentums[1]'"]),
    ("cyclic-scale-attrs", lambda: O.CyclicLR(_sgd(), 0.01, 0.1), _edit("_scale_fn_custom", {"rate": 0.5}),
     ValueError, ["'_scale_fn_custom'", "same scale_fn"]),
    ("cyclic-scale-type", lambda: O.CyclicLR(_sgd(), 0.01, 0.1, scale_fn=_Scale()), _edit("_scale_fn_custom", 3),
     TypeError, ["'_scale_fn_custom'"]),
    ("cyclic-mode", lambda: O.CyclicLR(_sgd(), 0.01, 0.1), _edit("mode", "square"), ValueError, ["'mode'"]),
    ("onecycle-anneal", lambda: O.OneCycleLR(_sgd(), 0.1, total_steps=20), _edit("_anneal_func_type", "cubic"),
     ValueError, ["'_anneal_func_type'"]),
    ("onecycle-no-anneal", lambda: O.OneCycleLR(_sgd(), 0.1, total_steps=20), _drop("_anneal_func_type"),
     KeyError, ["_anneal_func_type"]),
    ("onecycle-legacy-anneal", lambda: O.OneCycleLR(_sgd(), 0.1, total_steps=20),
     lambda s: dict(_drop("_anneal_func_type")(s), anneal_func="cos"), TypeError, ["'anneal_func'"]),
    ("onecycle-phases", lambda: O.OneCycleLR(_sgd(), 0.1, total_steps=20),
     _edit("_schedule_phases", [{"end_step": 5.0}]), ValueError, ["'_schedule_phases[0]'"]),
    ("sequential-count", _seq, lambda s: dict(s, _schedulers=s["_schedulers"][:1]), ValueError,
     ["'_schedulers'", "1 entries", "2 child schedulers"]),
    ("sequential-bad-second-child", _seq, _child(1, "gamma", "x"), TypeError, ["ExponentialLR", "'gamma'"]),
    ("sequential-foreign-child", _seq, _child(0, "step_size", 3), KeyError, ["LinearLR", "step_size"]),
    ("chained-bad-child", _chain, _child(1, "base_lrs", [1.0]), ValueError, ["ExponentialLR", "'base_lrs'"]),
    ("param-key", lambda: O.ParamScheduler(_sgd(), schedules.cosine(10), key="lr"), _edit("key", "momentum"),
     ValueError, ["'key'", "'momentum'"]),
    ("param-base-values", lambda: O.ParamScheduler(_sgd(), schedules.cosine(10)), _edit("base_values", [1.0]),
     ValueError, ["'base_values'"]),
]


@pytest.mark.parametrize("name,build,spoil,error,words", BAD, ids=[b[0] for b in BAD])
def test_bad_state_dict_is_rejected_and_changes_nothing(
    name: str, build: Callable[[], Any], spoil: Callable[[dict[str, Any]], dict[str, Any]], error: type,
    words: list[str],
) -> None:
    sched = _stepped(build)
    bad = spoil(_stepped(build, 9).state_dict())
    bad_before = copy.deepcopy(bad)
    before = _frozen(sched)  # (a composite's state dict holds every child's)
    with pytest.raises(error) as info:
        sched.load_state_dict(bad)
    message = str(info.value)
    assert all(word in message for word in words), message
    assert _frozen(sched) == before
    assert bad == bad_before  # the caller's dict is never modified
    # and the scheduler still works afterwards, exactly like one that never saw the bad dict
    twin = _stepped(build)
    for i in range(5, 15):
        _advance(sched, sched.optimizer, i)
        _advance(twin, twin.optimizer, i)
        assert _snapshot(sched.optimizer) == _snapshot(twin.optimizer)


@pytest.mark.parametrize("name,factory", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_good_state_dict_is_left_unmodified(name: str, factory: Factory) -> None:
    opt = make_opt(_kind(name), "ok")
    sched = factory(O, opt)
    for i in range(12):
        _advance(sched, opt, i)
    state = sched.state_dict()
    saved = copy.deepcopy(state)
    factory(O, make_opt(_kind(name), "ok")).load_state_dict(state)
    assert state == saved


# --------------------------------------------------------------------------------------------
# Fixes found by torch's own tests, compared with torch
# --------------------------------------------------------------------------------------------


def _scale_half(x: float) -> float:
    return 0.5 ** (x / 10)


def test_cyclic_named_mode_is_restored_from_a_state_dict() -> None:
    """A triangular2 state dict loaded into a triangular scheduler: triangular2 afterwards."""
    runs = []
    for lib, mod in (("torch", T), ("ok", O)):
        opt = make_opt("adam", lib)
        source = mod.CyclicLR(opt, 0.01, 0.1, step_size_up=3, mode="triangular2")
        restored = mod.CyclicLR(make_opt("adam", lib), 0.01, 0.1, step_size_up=3)
        restored.load_state_dict(source.state_dict())
        assert restored.mode == "triangular2" and restored._scale_fn_custom is None
        assert restored._scale_fn_ref is not None
        values = []
        for _ in range(20):
            restored.optimizer.step()
            restored.step()
            values.append(_snapshot(restored.optimizer))
        runs.append(values)
    assert runs[1] == runs[0]


@pytest.mark.parametrize("fn", [_scale_half, _Scale()], ids=["function", "object"])
def test_cyclic_custom_scale_fn_survives_loading(fn: Any) -> None:
    runs = []
    for lib, mod in (("torch", T), ("ok", O)):
        opt = make_opt("sgd", lib)
        source = mod.CyclicLR(opt, 0.01, 0.1, step_size_up=4, scale_fn=fn, scale_mode="iterations")
        for _ in range(7):
            opt.step()
            source.step()
        restored = mod.CyclicLR(opt, 0.01, 0.1, step_size_up=4, scale_fn=fn, scale_mode="iterations")
        restored.load_state_dict(_round_trip(source.state_dict()))
        assert restored._scale_fn_custom is fn
        for _ in range(20):
            opt.step()
            restored.step()
        runs.append((_snapshot(opt), restored.scale_mode))
    assert runs[1] == runs[0]


@pytest.mark.parametrize("scale_fn", [None, "function", "object"])
def test_cyclic_state_dict_pickles_like_torchs(scale_fn: str | None) -> None:
    fn = {None: None, "function": _scale_half, "object": _Scale()}[scale_fn]
    states = []
    for lib, mod in (("torch", T), ("ok", O)):
        sched = mod.CyclicLR(make_opt("adam", lib), 0.01, 0.1, cycle_momentum=False, scale_fn=fn)
        if scale_fn is None:
            assert type(sched._scale_fn_ref) is type(T.CyclicLR._triangular_scale_fn)  # a plain function
        state = sched.state_dict()
        assert "_scale_fn_ref" not in state
        states.append(pickle.loads(pickle.dumps(state))["_scale_fn_custom"])
    assert states[1] == states[0] == ({"rate": 0.9} if scale_fn == "object" else None)
    exp = O.CyclicLR(make_opt("adam", "ok"), 0.01, 0.1, mode="exp_range", gamma=0.9)
    pickle.dumps(exp.state_dict())
    assert exp.scale_fn(3) == T.CyclicLR(make_opt("adam", "torch"), 0.01, 0.1, mode="exp_range", gamma=0.9).scale_fn(3)


def test_cyclic_scheduler_is_freed_without_the_garbage_collector() -> None:
    """No reference cycle (torch's test: a bound method in the instance made one)."""
    gc.disable()
    try:
        def build() -> weakref.ref[Any]:
            return weakref.ref(O.CyclicLR(ok.Adam(_groups()), 0.01, 0.1, cycle_momentum=False, mode="exp_range"))

        assert build()() is None
    finally:
        gc.enable()


def _tensor_bounds_run(mod: Any, lib: str, cls: str) -> list[Any]:
    lr = torch.tensor(0.1)
    top = torch.tensor(0.2)
    low_m, high_m = torch.tensor(0.8), torch.tensor(0.9)
    opt = (torch.optim if lib == "torch" else ok).SGD([torch.nn.Parameter(torch.randn(1))], lr=lr)
    if cls == "CyclicLR":
        sched = mod.CyclicLR(opt, base_lr=lr, max_lr=top, base_momentum=low_m, max_momentum=high_m)
    else:
        sched = mod.OneCycleLR(opt, max_lr=lr, total_steps=10, base_momentum=low_m, max_momentum=high_m)
    group = opt.param_groups[0]
    keys = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
    before = {k: float(group[k]) for k in keys if k in group}
    seen = []
    for i in range(4):
        for t in (lr, top, low_m, high_m):
            t.mul_(0.5)  # the caller's tensors change; the schedule's bounds must not
        opt.step()
        sched.step()
        assert {k: float(group[k]) for k in keys if k in group} == before
        seen.append((float(group["lr"]), float(group["momentum"])))
    if cls == "CyclicLR":
        assert sched.base_lrs == [torch.tensor(0.1)] and sched.max_lrs == [torch.tensor(0.2)]
    return seen


@pytest.mark.parametrize("cls", ["CyclicLR", "OneCycleLR"])
def test_tensor_bounds_are_not_aliased(cls: str) -> None:
    ours = _tensor_bounds_run(O, "ok", cls)
    theirs = _tensor_bounds_run(T, "torch", cls)
    assert ours == pytest.approx(theirs, rel=1e-6)  # float32 tensors on both sides
    opt = ok.SGD([torch.nn.Parameter(torch.randn(1))], lr=0.1)
    O.CyclicLR(opt, 0.05, 0.1, base_momentum=torch.tensor(0.8), max_momentum=torch.tensor(0.9))
    group = opt.param_groups[0]
    assert group["momentum"] is not group["max_momentum"]
