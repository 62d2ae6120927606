"""optimkit.optim.lr_scheduler against torch.optim.lr_scheduler (the oracle).

* lr (and momentum / beta1) sequences over 300+ steps equal torch's with ``==``, also after a
  state-dict round trip (through ``torch.save`` / ``torch.load(weights_only=True)``) at a middle
  step, for a grid of arguments per scheduler;
* the recursive ``step()`` agrees with the closed form ``lr_at`` over 1000 steps;
* resuming with ``last_epoch`` and torch's ``KeyError`` without ``initial_lr``;
* the deliberate fixes (ReduceLROnPlateau after a warmup, OneCycleLR hold and
  zero-length phases, plain-data state dicts, Tensor hyperparameters filled in place, no
  recompiles of a compiled ``optimizer.step``).
"""

from __future__ import annotations

import inspect
import io
import random
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.optim.lr_scheduler as T

import optimkit.optim as ok
import optimkit.optim.lr_scheduler as O
from optimkit import schedules
from optimkit.registry import get_scheduler, list_schedulers, scheduler_specs

pytestmark = pytest.mark.filterwarnings("ignore:The epoch parameter:UserWarning")

Factory = Callable[[Any, Any], Any]  # (module with the classes, optimizer) -> scheduler


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _groups(lrs: tuple[float, float] | None = (0.1, 0.02)) -> list[dict[str, Any]]:
    """Two parameter groups, with their own learning rates unless ``lrs`` is None."""
    groups: list[dict[str, Any]] = [{"params": [torch.nn.Parameter(torch.zeros(2))]},
                                    {"params": [torch.nn.Parameter(torch.zeros(3))]}]
    if lrs is not None:
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
    return groups


def make_opt(kind: str, lib: str, **kw: Any) -> torch.optim.Optimizer:
    """An SGD (with momentum) or Adam optimizer, torch's (lib="torch") or ours (lib="ok")."""
    mod = torch.optim if lib == "torch" else ok
    if kind == "sgd":
        return mod.SGD(_groups(), lr=0.1, momentum=0.9, **kw)
    return mod.Adam(_groups(), lr=0.1, **kw)


def _snapshot(opt: torch.optim.Optimizer) -> tuple[float, ...]:
    out: list[float] = []
    for g in opt.param_groups:
        out.append(float(g["lr"]))
        if "momentum" in g:
            out.append(float(g["momentum"]))
        if "betas" in g:
            out.append(float(g["betas"][0]))
    return tuple(out)


def _round_trip(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def trace(
    lib: str, kind: str, factory: Factory, steps: int, *, resume_at: int | None = None,
    opt_lib: str | None = None, weights_only: bool = True,
) -> list[tuple[float, ...]]:
    """Values of every group after construction and after each of ``steps`` steps; optionally
    rebuild optimizer and scheduler from their state dicts after ``resume_at`` steps."""
    module = T if lib == "torch" else O
    opt = make_opt(kind, opt_lib or lib)
    sched = factory(module, opt)
    out = [_snapshot(opt)]
    for i in range(steps):
        if resume_at is not None and i == resume_at:
            opt_state, sched_state = opt.state_dict(), sched.state_dict()
            if weights_only:
                sched_state = _round_trip(sched_state)
            opt = make_opt(kind, opt_lib or lib)
            sched = factory(module, opt)
            opt.load_state_dict(opt_state)
            sched.load_state_dict(sched_state)
        opt.step()
        sched.step()
        out.append(_snapshot(opt))
    return out


def _lam_a(t: int) -> float:
    return 0.97**t


def _lam_b(t: int) -> float:
    return 1.0 / (t + 1)


# Each case: (id, factory). Factories only use names both modules share.
CASES: list[tuple[str, Factory]] = []


def case(name: str) -> Callable[[Factory], Factory]:
    def add(fn: Factory) -> Factory:
        CASES.append((name, fn))
        return fn
    return add


for _lam in ("single", "per_group"):
    CASES.append((f"lambda-{_lam}", (lambda m, o, _l=_lam: m.LambdaLR(o, _lam_a if _l == "single" else [_lam_a, _lam_b]))))
    CASES.append((f"multiplicative-{_lam}", (lambda m, o, _l=_lam: m.MultiplicativeLR(
        o, (lambda t: 0.99) if _l == "single" else [lambda t: 0.99, lambda t: 1.0 - 1.0 / (t + 10)]))))
for _s, _g in [(1, 0.9), (7, 0.5), (30, 0.1)]:
    CASES.append((f"step-{_s}-{_g}", lambda m, o, s=_s, g=_g: m.StepLR(o, step_size=s, gamma=g)))
for _ms in ([10, 50, 50, 200], [0, 3, 299]):
    CASES.append((f"multistep-{_ms}", lambda m, o, ms=_ms: m.MultiStepLR(o, milestones=ms, gamma=0.5)))
for _f, _n in [(1 / 3, 5), (0.5, 100), (0.25, 7)]:
    CASES.append((f"constant-{_f:.2f}-{_n}", lambda m, o, f=_f, n=_n: m.ConstantLR(o, factor=f, total_iters=n)))
for _a, _b, _n in [(1 / 3, 1.0, 5), (1.0, 0.1, 100), (0.5, 0.0, 300), (0.25, 0.75, 1)]:
    CASES.append((f"linear-{_a:.2f}-{_b}-{_n}", lambda m, o, a=_a, b=_b, n=_n: m.LinearLR(o, a, b, n)))
for _g in (0.99, 0.9):
    CASES.append((f"exponential-{_g}", lambda m, o, g=_g: m.ExponentialLR(o, gamma=g)))
for _n, _p in [(5, 1.0), (250, 2.0), (250, 0.5), (400, 1.5)]:
    CASES.append((f"polynomial-{_n}-{_p}", lambda m, o, n=_n, p=_p: m.PolynomialLR(o, total_iters=n, power=p)))
for _n, _e in [(10, 0.0), (100, 0.001), (400, 0.0), (7, 0.005)]:
    CASES.append((f"cosine-{_n}-{_e}", lambda m, o, n=_n, e=_e: m.CosineAnnealingLR(o, T_max=n, eta_min=e)))
for _t0, _tm, _e in [(1, 1, 0.0), (10, 1, 0.001), (10, 2, 0.0), (7, 3, 0.001), (37, 2, 0.0)]:
    CASES.append((f"warmrestarts-{_t0}-{_tm}-{_e}",
                  lambda m, o, t0=_t0, tm=_tm, e=_e: m.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=tm, eta_min=e)))
CASES.append(("sequential-warmup-exp", lambda m, o: m.SequentialLR(
    o, [m.LinearLR(o, start_factor=0.1, total_iters=10), m.ExponentialLR(o, gamma=0.99)], milestones=[10])))
CASES.append(("sequential-three", lambda m, o: m.SequentialLR(
    o, [m.ConstantLR(o, factor=0.5, total_iters=3), m.CosineAnnealingLR(o, T_max=60), m.StepLR(o, 20, 0.5)],
    milestones=[5, 100])))
CASES.append(("sequential-cyclic", lambda m, o: m.SequentialLR(
    o, [m.LinearLR(o, start_factor=0.2, total_iters=4), m.PolynomialLR(o, total_iters=500, power=2.0)],
    milestones=[4])))
CASES.append(("chained-const-exp", lambda m, o: m.ChainedScheduler(
    [m.ConstantLR(o, factor=0.1, total_iters=4), m.ExponentialLR(o, gamma=0.995)])))
CASES.append(("chained-lambdas", lambda m, o: m.ChainedScheduler(
    [m.MultiplicativeLR(o, [lambda t: 0.999, lambda t: 1.0 - 1.0 / (t + 20)]), m.StepLR(o, 10, 0.8),
     m.PolynomialLR(o, total_iters=900, power=0.7)])))
CASES.append(("chained-three", lambda m, o: m.ChainedScheduler(
    [m.LinearLR(o, start_factor=0.3, total_iters=20), m.CosineAnnealingLR(o, T_max=1500), m.MultiStepLR(o, [100, 250])],
    optimizer=o)))

CYCLIC: list[tuple[str, Factory]] = []
for _mode in ("triangular", "triangular2", "exp_range"):
    for _up, _down in [(5, None), (20, 13), (1, 1)]:
        for _cm in (True, False):
            CYCLIC.append((f"cyclic-{_mode}-{_up}-{_down}-{_cm}", lambda m, o, md=_mode, u=_up, d=_down, cm=_cm: m.CyclicLR(
                o, base_lr=[0.01, 0.001], max_lr=0.1, step_size_up=u, step_size_down=d, mode=md, gamma=0.995,
                cycle_momentum=cm, base_momentum=0.8, max_momentum=[0.9, 0.95])))


def _scale(x: float) -> float:
    return 1.0 / (1.0 + 0.01 * x)


for _sm in ("cycle", "iterations"):
    CYCLIC.append((f"cyclic-custom-{_sm}", lambda m, o, sm=_sm: m.CyclicLR(
        o, base_lr=0.01, max_lr=[0.2, 0.1], step_size_up=9, step_size_down=4, scale_fn=_scale, scale_mode=sm)))

ONECYCLE: list[tuple[str, Factory]] = []
for _three in (False, True):
    for _anneal in ("cos", "linear"):
        for _span in ("total", "epochs"):
            for _cm in (True, False):
                def _f(m: Any, o: Any, three: bool = _three, an: str = _anneal, span: str = _span, cm: bool = _cm) -> Any:
                    size = {"total_steps": 300} if span == "total" else {"epochs": 10, "steps_per_epoch": 31}
                    return m.OneCycleLR(o, max_lr=[0.5, 0.05], pct_start=0.25, anneal_strategy=an, three_phase=three,
                                        cycle_momentum=cm, base_momentum=[0.8, 0.85], max_momentum=0.95,
                                        div_factor=10.0, final_div_factor=100.0, **size)
                ONECYCLE.append((f"onecycle-{_three}-{_anneal}-{_span}-{_cm}", _f))
ONECYCLE.append(("onecycle-defaults", lambda m, o: m.OneCycleLR(o, max_lr=0.3, total_steps=300)))


# --------------------------------------------------------------------------------------------
# Bit-identical to torch
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,factory", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_sequence_equals_torch(name: str, factory: Factory, kind: str) -> None:
    expected = trace("torch", kind, factory, 320)
    assert trace("ok", kind, factory, 320) == expected
    assert trace("ok", kind, factory, 320, resume_at=157) == expected
    # Our schedulers drive torch's optimizers too.
    assert trace("ok", kind, factory, 320, opt_lib="torch") == expected


@pytest.mark.parametrize("name,factory", CYCLIC + ONECYCLE, ids=[c[0] for c in CYCLIC + ONECYCLE])
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_cyclic_and_one_cycle_equal_torch(name: str, factory: Factory, kind: str) -> None:
    steps = 300 if name.startswith("onecycle") and "epochs" not in name else 310
    expected = trace("torch", kind, factory, steps)
    assert trace("ok", kind, factory, steps) == expected
    assert trace("ok", kind, factory, steps, resume_at=133) == expected


def _plateau_trace(module: Any, lib: str, metrics: list[float], **kw: Any) -> list[tuple[float, ...]]:
    opt = make_opt("sgd", lib)
    sched = module.ReduceLROnPlateau(opt, **kw)
    out = [_snapshot(opt)]
    for i, metric in enumerate(metrics):
        if i == len(metrics) // 2:  # resume in the middle
            state = _round_trip(sched.state_dict())
            sched = module.ReduceLROnPlateau(opt, **kw)
            sched.load_state_dict(state)
        opt.step()
        sched.step(torch.tensor(metric) if i % 3 == 0 else metric)
        out.append(_snapshot(opt) + tuple(float(x) for x in sched.get_last_lr()))
    return out


def _metric_walk(seed: int, n: int = 300) -> list[float]:
    rng = random.Random(seed)
    value, out = 10.0, []
    for _ in range(n):
        r = rng.random()
        value = value * (0.9 if r < 0.3 else 1.0) + (0.0 if r < 0.6 else rng.choice([0.0, 1e-5, -1e-5, 0.5]))
        out.append(value)
    return out


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize("cooldown", [0, 3])
def test_reduce_on_plateau_equals_torch(mode: str, threshold_mode: str, cooldown: int) -> None:
    metrics = _metric_walk(hash((mode, threshold_mode, cooldown)) % 1000)
    if mode == "max":
        metrics = [-m for m in metrics]
    kw = dict(mode=mode, threshold_mode=threshold_mode, cooldown=cooldown, patience=2, factor=0.5,
              threshold=1e-3, min_lr=[1e-4, 0.0])
    assert _plateau_trace(O, "ok", metrics, **kw) == _plateau_trace(T, "torch", metrics, **kw)


def test_step_with_epoch_uses_torchs_closed_form_paths() -> None:
    epochs = [0, 3, 3, 10, 7, 42, 100, 101]
    for name, factory in CASES:
        if name.startswith(("sequential", "chained")):
            continue
        runs = []
        for lib, mod in (("torch", T), ("ok", O)):
            opt = make_opt("sgd", lib)
            sched = factory(mod, opt)
            vals = []
            for e in epochs:
                opt.step()
                sched.step(e)
                vals.append(_snapshot(opt))
            runs.append(vals)
        assert runs[0] == runs[1], name


def test_tensor_lr_is_filled_in_place_and_matches_torch() -> None:
    results = []
    for lib, mod in (("torch", T), ("ok", O)):
        lib_mod = torch.optim if lib == "torch" else ok
        opt = lib_mod.Adam(_groups(None), lr=torch.tensor(0.01), foreach=False)
        lr_tensors = [g["lr"] for g in opt.param_groups]
        sched = mod.SequentialLR(opt, [mod.LinearLR(opt, 0.1, total_iters=5), mod.CosineAnnealingLR(opt, 50)], [5])
        vals = []
        for _ in range(60):
            opt.step()
            sched.step()
            vals.append([g["lr"].item() for g in opt.param_groups])
            assert all(g["lr"] is t for g, t in zip(opt.param_groups, lr_tensors))
            assert all(isinstance(x, torch.Tensor) for x in sched.get_last_lr())
            assert all(x is not g["lr"] for x, g in zip(sched.get_last_lr(), opt.param_groups))
        results.append(vals)
    assert results[0] == results[1]


@pytest.mark.parametrize("cls_name", sorted(T.__all__))
def test_signatures_and_base_class_match_torch(cls_name: str) -> None:
    ours, theirs = getattr(O, cls_name), getattr(T, cls_name)
    assert issubclass(ours, torch.optim.lr_scheduler.LRScheduler)
    assert ours.__name__ == theirs.__name__
    ps_o = list(inspect.signature(ours.__init__).parameters.values())
    ps_t = list(inspect.signature(theirs.__init__).parameters.values())
    assert [(p.name, p.kind, p.default) for p in ps_o[: len(ps_t)]] == [(p.name, p.kind, p.default) for p in ps_t]
    # Additions are keyword-only with defaults (OneCycleLR's hold_final_lr).
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in ps_o[len(ps_t):])
    assert issubclass(O._LRScheduler, O.LRScheduler) and O._LRScheduler.__name__ == "_LRScheduler"


def _sgd(lib: str) -> torch.optim.Optimizer:
    return make_opt("sgd", lib)


ERROR_CASES: list[tuple[str, Callable[[Any, str], Any]]] = [
    ("constant-factor", lambda m, lib: m.ConstantLR(_sgd(lib), factor=1.5)),
    ("linear-start", lambda m, lib: m.LinearLR(_sgd(lib), start_factor=0.0)),
    ("linear-end", lambda m, lib: m.LinearLR(_sgd(lib), end_factor=1.5)),
    ("lambda-count", lambda m, lib: m.LambdaLR(_sgd(lib), [_lam_a])),
    ("multiplicative-callable", lambda m, lib: m.MultiplicativeLR(_sgd(lib), [1.0, 2.0])),
    ("warm-t0", lambda m, lib: m.CosineAnnealingWarmRestarts(_sgd(lib), T_0=0)),
    ("warm-tmult", lambda m, lib: m.CosineAnnealingWarmRestarts(_sgd(lib), T_0=2, T_mult=0)),
    ("warm-eta", lambda m, lib: m.CosineAnnealingWarmRestarts(_sgd(lib), T_0=2, eta_min="x")),
    ("onecycle-none", lambda m, lib: m.OneCycleLR(_sgd(lib), max_lr=0.1)),
    ("onecycle-total", lambda m, lib: m.OneCycleLR(_sgd(lib), max_lr=0.1, total_steps=0)),
    ("onecycle-epochs", lambda m, lib: m.OneCycleLR(_sgd(lib), max_lr=0.1, epochs=0, steps_per_epoch=3)),
    ("onecycle-spe", lambda m, lib: m.OneCycleLR(_sgd(lib), max_lr=0.1, epochs=2, steps_per_epoch=1.5)),
    ("onecycle-pct", lambda m, lib: m.OneCycleLR(_sgd(lib), max_lr=0.1, total_steps=10, pct_start=1.5)),
    ("onecycle-anneal", lambda m, lib: m.OneCycleLR(_sgd(lib), max_lr=0.1, total_steps=10, anneal_strategy="x")),
    ("onecycle-maxlr-len", lambda m, lib: m.OneCycleLR(_sgd(lib), max_lr=[0.1], total_steps=10)),
    ("onecycle-no-momentum", lambda m, lib: m.OneCycleLR(
        (torch.optim if lib == "torch" else ok).Adagrad(_groups()), max_lr=0.1, total_steps=10)),
    ("cyclic-mode", lambda m, lib: m.CyclicLR(_sgd(lib), 0.01, 0.1, mode="nope")),
    ("cyclic-no-momentum", lambda m, lib: m.CyclicLR(
        (torch.optim if lib == "torch" else ok).Adagrad(_groups()), 0.01, 0.1)),
    ("cyclic-not-optimizer", lambda m, lib: m.CyclicLR(object(), 0.01, 0.1)),
    ("plateau-factor", lambda m, lib: m.ReduceLROnPlateau(_sgd(lib), factor=1.0)),
    ("plateau-mode", lambda m, lib: m.ReduceLROnPlateau(_sgd(lib), mode="up")),
    ("plateau-threshold-mode", lambda m, lib: m.ReduceLROnPlateau(_sgd(lib), threshold_mode="x")),
    ("plateau-min-lr", lambda m, lib: m.ReduceLROnPlateau(_sgd(lib), min_lr=[0.1])),
    ("base-not-optimizer", lambda m, lib: m.StepLR(object(), 3)),
    ("sequential-empty", lambda m, lib: m.SequentialLR(_sgd(lib), [], [])),
    ("sequential-milestones", lambda m, lib: (lambda o: m.SequentialLR(o, [m.StepLR(o, 2)], [3]))(_sgd(lib))),
    ("sequential-other-opt", lambda m, lib: m.SequentialLR(_sgd(lib), [m.StepLR(_sgd(lib), 2)], [])),
    ("chained-empty", lambda m, lib: m.ChainedScheduler([])),
    ("chained-plateau", lambda m, lib: (lambda o: m.ChainedScheduler([m.ReduceLROnPlateau(o)]))(_sgd(lib))),
    ("chained-no-optimizer", lambda m, lib: (lambda o: m.ChainedScheduler([m.StepLR(o, 2), object()]))(_sgd(lib))),
]


@pytest.mark.parametrize("name,build", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_match_torch(name: str, build: Callable[[Any, str], Any]) -> None:
    with pytest.raises(Exception) as theirs:
        build(T, "torch")
    with pytest.raises(type(theirs.value)) as ours:
        build(O, "ok")
    assert str(ours.value) == str(theirs.value)


KEYERROR_CASES = [c for c in CASES + CYCLIC + ONECYCLE if not c[0].startswith(("sequential", "chained"))]


@pytest.mark.parametrize("name,factory", KEYERROR_CASES, ids=[c[0] for c in KEYERROR_CASES])
def test_resume_without_initial_lr_raises_torchs_keyerror(name: str, factory: Factory) -> None:
    """last_epoch >= 0 on groups without ``initial_lr``: torch's KeyError, message and all."""
    errors = []
    for lib, mod in (("torch", T), ("ok", O)):
        with pytest.raises(KeyError) as info:
            factory(lambda_module(mod, 3), make_opt("adam" if "onecycle" in name else "sgd", lib))
        errors.append(str(info.value))
    assert errors[1] == errors[0]
    assert "param 'initial_lr' is not specified in param_groups[0]" in errors[1]


def test_call_order_warnings_match_torch() -> None:
    for mod, lib in ((T, "torch"), (O, "ok")):
        opt = _sgd(lib)
        sched = mod.StepLR(opt, 2)
        with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
            sched.step()
        opt = _sgd(lib)
        sched = mod.StepLR(opt, 2)
        opt.step = lambda closure=None: None  # overridden after the scheduler wrapped it
        with pytest.warns(UserWarning, match="has been overridden after learning rate scheduler"):
            sched.step()
        opt = _sgd(lib)
        sched = mod.StepLR(opt, 2)
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched.get_lr()
        with pytest.warns(UserWarning, match="epoch parameter"):
            opt.step()
            sched.step(4)
        opt = _sgd(lib)
        sched = mod.StepLR(opt, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
            sched.step()


def test_state_dict_keys_match_torch() -> None:
    for name, factory in CASES + CYCLIC + ONECYCLE:
        keys = []
        for lib, mod in (("torch", T), ("ok", O)):
            opt = make_opt("adam", lib)
            state = factory(mod, opt).state_dict()
            keys.append(set(state) | set().union(*(set(c) for c in state.get("_schedulers", []))))
        extra = keys[1] - keys[0]
        assert extra <= {"hold_final_lr"}, (name, extra)
        assert keys[0] - keys[1] <= {"_scale_fn_ref"}, name


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------

CLOSED_CASES = CASES + CYCLIC + [
    (n, f) for n, f in ONECYCLE if "epochs" not in n
] + [
    ("onecycle-1000", lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.05], total_steps=1000, three_phase=True)),
    ("cosine-short-many-restarts", lambda m, o: m.CosineAnnealingLR(o, T_max=13, eta_min=0.0)),
]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), 1e-15)


@pytest.mark.parametrize("name,factory", CLOSED_CASES, ids=[c[0] for c in CLOSED_CASES])
def test_recursive_equals_closed_form(name: str, factory: Factory) -> None:
    steps = 1000
    if name.startswith("onecycle") and name != "onecycle-1000":
        steps = 300
    opt = make_opt("sgd", "ok")
    sched = factory(O, opt)
    for t in range(steps + 1):
        if t:
            opt.step()
            sched.step()
        got = [float(g["lr"]) for g in opt.param_groups]
        want = [float(x) for x in sched.lr_at(t)]
        assert all(_close(a, b) for a, b in zip(got, want)), (name, t, got, want)
        moms = sched.momentum_at(t)  # None where the scheduler leaves momentum alone
        if moms is not None:
            assert [g["momentum"] for g in opt.param_groups] == moms


CYCLIC_CLOSED = CYCLIC + [(n, f) for n, f in ONECYCLE if "epochs" not in n]


@pytest.mark.parametrize("name,factory", CYCLIC_CLOSED, ids=[c[0] for c in CYCLIC_CLOSED])
def test_closed_form_equals_torchs_sequence(name: str, factory: Factory) -> None:
    """``lr_at`` / ``momentum_at`` (from optimkit.schedules) against torch's stepped values: the
    closed form is checked against the oracle, not only against our own step path."""
    steps = 300 if name.startswith("onecycle") else 400
    opt = make_opt("sgd", "torch")
    theirs = factory(T, opt)
    ours = factory(O, make_opt("sgd", "ok"))
    for t in range(steps + 1):
        if t:
            opt.step()
            theirs.step()
        want = [float(g["lr"]) for g in opt.param_groups]
        assert all(_close(a, b) for a, b in zip([float(x) for x in ours.lr_at(t)], want)), (name, t)
        if ours.cycle_momentum:
            want_m = [float(g["momentum"]) for g in opt.param_groups]
            assert all(_close(a, b) for a, b in zip(ours.momentum_at(t), want_m)), (name, t)


def test_pure_schedules_are_the_closed_forms() -> None:
    """The classes' closed forms come from optimkit.schedules: check a few directly."""
    opt = make_opt("sgd", "ok")
    sched = O.CyclicLR(opt, 0.01, 0.1, step_size_up=7, step_size_down=3, mode="triangular2")
    f = schedules.cyclic(0.01, 0.1, 7, 3, mode="triangular2")
    assert [sched.lr_at(t)[0] for t in range(100)] == [f(t) for t in range(100)]
    m = schedules.cyclic(0.9, 0.8, 7, 3, mode="triangular2")
    assert [sched.momentum_at(t)[0] for t in range(100)] == [m(t) for t in range(100)]
    opt = make_opt("adam", "ok")
    sched = O.OneCycleLR(opt, max_lr=0.4, total_steps=200, three_phase=True, anneal_strategy="linear")
    f = schedules.one_cycle(200, 0.4, three_phase=True, anneal_strategy="linear")
    assert [sched.lr_at(t)[0] for t in range(201)] == [f(t) for t in range(201)]
    mom = schedules.one_cycle(200, 0.85, three_phase=True, anneal_strategy="linear",
                              initial_value=0.95, final_value=0.95)
    assert [sched.momentum_at(t)[0] for t in range(201)] == [mom(t) for t in range(201)]
    opt = make_opt("sgd", "ok")
    sched = O.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.01)
    f = schedules.cosine_warm_restarts(3, 2, 0.1, 0.01)
    assert [sched.lr_at(t)[0] for t in range(100)] == [f(t) for t in range(100)]


# --------------------------------------------------------------------------------------------
# Resuming with last_epoch on a restored optimizer (torch's way)
# --------------------------------------------------------------------------------------------

RESUMABLE = [c for c in CASES + CYCLIC + ONECYCLE if not c[0].startswith(("sequential", "chained", "warmrestarts"))]


class lambda_module:  # noqa: N801 - stands in for a module in the factories
    """A view of T or O whose scheduler classes get ``last_epoch=n``."""

    def __init__(self, module: Any, n: int) -> None:
        self.module, self.n = module, n

    def __getattr__(self, name: str) -> Any:
        cls = getattr(self.module, name)
        return lambda *a, **k: cls(*a, last_epoch=self.n, **k)


def _resumed_trace(lib: str, kind: str, factory: Factory, n: int, steps: int) -> list[tuple[float, ...]]:
    """Run ``n`` steps, restore the optimizer into a new one and construct the scheduler on it
    with ``last_epoch=n``; the values after each of ``steps`` more steps."""
    module = T if lib == "torch" else O
    opt = make_opt(kind, lib)
    sched = factory(module, opt)
    for _ in range(n):
        opt.step()
        sched.step()
    opt2 = make_opt(kind, lib)
    opt2.load_state_dict(opt.state_dict())
    sched2 = factory(lambda_module(module, n), opt2)
    out = [_snapshot(opt2)]
    for _ in range(steps):
        opt2.step()
        sched2.step()
        out.append(_snapshot(opt2))
    assert sched2.last_epoch == n + steps + 1
    return out


@pytest.mark.parametrize("name,factory", RESUMABLE, ids=[c[0] for c in RESUMABLE])
def test_resume_with_last_epoch_equals_torch(name: str, factory: Factory) -> None:
    kind = "adam" if name.startswith("onecycle") else "sgd"
    steps = 100 if name.startswith("onecycle") else 150
    assert _resumed_trace("ok", kind, factory, 40, steps) == _resumed_trace("torch", kind, factory, 40, steps)


def test_warm_restarts_resumed_with_last_epoch_finds_its_period() -> None:
    """Resuming at N sits where N + 1 steps lead (torch keeps T_cur = N, one long period)."""
    for t0, mult in ((10, 2), (7, 3), (5, 1)):
        stepped_opt = make_opt("sgd", "ok")
        stepped = O.CosineAnnealingWarmRestarts(stepped_opt, T_0=t0, T_mult=mult, eta_min=0.001)
        for _ in range(41):
            stepped_opt.step()
            stepped.step()
        opt2 = make_opt("sgd", "ok")
        opt2.load_state_dict(stepped_opt.state_dict())
        resumed = O.CosineAnnealingWarmRestarts(opt2, T_0=t0, T_mult=mult, eta_min=0.001, last_epoch=40)
        assert (resumed.T_cur, resumed.T_i, resumed.last_epoch) == (stepped.T_cur, stepped.T_i, 41)
        assert _snapshot(opt2) == _snapshot(stepped_opt)


# --------------------------------------------------------------------------------------------
# Fixes
# --------------------------------------------------------------------------------------------


def test_plateau_after_warmup_in_sequential() -> None:
    metrics = _metric_walk(7, 60)
    opt = make_opt("sgd", "ok")
    seq = O.SequentialLR(opt, [O.LinearLR(opt, start_factor=0.1, total_iters=5),
                               O.ReduceLROnPlateau(opt, patience=1, factor=0.5)], milestones=[5])
    got = [_snapshot(opt)]
    for metric in metrics:
        opt.step()
        seq.step(metric)
        got.append(_snapshot(opt))
        assert seq.get_last_lr() == [g["lr"] for g in opt.param_groups]
    # Reference: torch's LinearLR for the warmup, then torch's plateau scheduler from the base lr.
    ref_opt = make_opt("sgd", "torch")
    warm = T.LinearLR(ref_opt, start_factor=0.1, total_iters=5)
    want = [_snapshot(ref_opt)]
    for metric in metrics[:4]:
        ref_opt.step()
        warm.step()
        want.append(_snapshot(ref_opt))
    for g in ref_opt.param_groups:
        g["lr"] = g["initial_lr"]
    plateau = T.ReduceLROnPlateau(ref_opt, patience=1, factor=0.5)
    for metric in metrics[4:]:
        ref_opt.step()
        plateau.step(metric)
        want.append(_snapshot(ref_opt))
    assert got == want
    assert min(x[0] for x in got[6:]) < 0.1  # the plateau scheduler did reduce
    with pytest.raises(ValueError, match="pass the monitored value"):
        seq.step()
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        T.SequentialLR(make_opt("sgd", "torch"), [T.ReduceLROnPlateau(make_opt("sgd", "torch"))], [])


def test_one_cycle_past_total_steps() -> None:
    for mod, lib in ((T, "torch"), (O, "ok")):
        opt = make_opt("sgd", lib)
        sched = mod.OneCycleLR(opt, max_lr=0.1, total_steps=10)
        for _ in range(10):
            opt.step()
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total steps is 10"):
            opt.step()
            sched.step()
    held_opt, ref_opt = make_opt("adam", "ok"), make_opt("adam", "torch")
    held = O.OneCycleLR(held_opt, max_lr=0.1, total_steps=10, hold_final_lr=True)
    ref = T.OneCycleLR(ref_opt, max_lr=0.1, total_steps=10)
    for _ in range(9):
        held_opt.step(); held.step(); ref_opt.step(); ref.step()
        assert _snapshot(held_opt) == _snapshot(ref_opt)
    final = _snapshot(held_opt)
    assert final[0] == held_opt.param_groups[0]["min_lr"]
    for _ in range(20):
        held_opt.step()
        held.step()
        assert _snapshot(held_opt) == final


def test_one_cycle_zero_length_phases() -> None:
    with pytest.raises(ZeroDivisionError):
        T.OneCycleLR(make_opt("sgd", "torch"), max_lr=0.1, total_steps=10, pct_start=0.1)
    with pytest.raises(ValueError, match="first phase has zero length"):
        O.OneCycleLR(make_opt("sgd", "ok"), max_lr=0.1, total_steps=10, pct_start=0.1)
    with pytest.raises(ValueError, match="zero length"):
        schedules.one_cycle(10, 0.1, pct_start=0.1)
    # pct_start=1.0: the last phase is empty; torch runs all 10 steps and fails on the 11th value
    for mod, lib, err in ((T, "torch", ZeroDivisionError), (O, "ok", ValueError)):
        opt = make_opt("sgd", lib)
        sched = mod.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.0)
        for _ in range(9):
            opt.step()
            sched.step()
        with pytest.raises(err):
            opt.step()
            sched.step()


class _ScaleObject:
    def __init__(self) -> None:
        self.rate = 0.9

    def __call__(self, x: float) -> float:
        return self.rate**x


@pytest.mark.parametrize("scale_fn", [None, "lambda", "object"])
def test_cyclic_state_dict_is_plain_data(scale_fn: str | None) -> None:
    def build(opt: Any) -> O.CyclicLR:
        fn = {None: None, "lambda": lambda x: 0.5**x, "object": _ScaleObject()}[scale_fn]
        return O.CyclicLR(opt, 0.01, 0.1, step_size_up=5, scale_fn=fn)

    opt = make_opt("adam", "ok")
    sched = build(opt)
    if scale_fn == "object":
        sched._scale_fn_custom.rate = 0.7
    for _ in range(12):
        opt.step()
        sched.step()
    state = _round_trip(sched.state_dict())
    assert state["_scale_fn_custom"] == ({"rate": 0.7} if scale_fn == "object" else None)
    opt2 = make_opt("adam", "ok")
    restored = build(opt2)
    opt2.load_state_dict(opt.state_dict())
    restored.load_state_dict(state)
    for _ in range(20):
        opt.step(); sched.step(); opt2.step(); restored.step()
        assert _snapshot(opt) == _snapshot(opt2)


def test_cycle_momentum_false_needs_no_momentum() -> None:
    opt = ok.Adagrad(_groups())
    sched = O.CyclicLR(opt, 0.01, 0.1, step_size_up=3, cycle_momentum=False)
    one = O.OneCycleLR(ok.Adagrad(_groups()), 0.1, total_steps=20, cycle_momentum=False)
    for _ in range(5):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == sched.lr_at(5) == [schedules.cyclic(0.01, 0.1, 3)(5)] * 2
    assert one.momentum_at(3) is None
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        O.OneCycleLR(ok.Adagrad(_groups()), 0.1, total_steps=20)


def test_tensor_betas_and_momentum_cycled_in_place() -> None:
    opt = ok.Adam(_groups(None), lr=torch.tensor(0.01), betas=(torch.tensor(0.9), torch.tensor(0.999)), foreach=False)
    ref = torch.optim.Adam(_groups(None), lr=torch.tensor(0.01), betas=(torch.tensor(0.9), torch.tensor(0.999)),
                           foreach=False)
    ids = [(id(g["lr"]), id(g["betas"][0]), id(g["betas"][1])) for g in opt.param_groups]
    sched = O.OneCycleLR(opt, max_lr=0.05, total_steps=40)
    ref_sched = T.OneCycleLR(ref, max_lr=0.05, total_steps=40)
    for _ in range(40):
        opt.step(); sched.step(); ref.step(); ref_sched.step()
        assert [(id(g["lr"]), id(g["betas"][0]), id(g["betas"][1])) for g in opt.param_groups] == ids
        # same values as torch (torch replaces the beta tensors by floats; float32 vs float64)
        for g, r in zip(opt.param_groups, ref.param_groups):
            assert g["lr"].item() == r["lr"].item()
            assert g["betas"][0].item() == torch.tensor(float(r["betas"][0])).item()
    assert isinstance(ref.param_groups[0]["betas"][0], float)  # what torch does, for the record


def test_param_scheduler_drives_any_hyperparameter() -> None:
    opt = ok.SGD(_groups(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    wd = O.ParamScheduler(opt, schedules.cosine(50), key="weight_decay")
    mom = O.ParamScheduler(opt, schedules.linear(0.95, 0.85, 20), key="momentum", relative=False)
    lr = O.ParamScheduler(opt, [schedules.exponential(0.9), schedules.step(5, 0.5)])
    for t in range(1, 60):
        opt.step()
        wd.step(); mom.step(); lr.step()
        assert wd.get_last_value() == [1e-2 * schedules.cosine(50)(t)] * 2
        assert [g["momentum"] for g in opt.param_groups] == [schedules.linear(0.95, 0.85, 20)(t)] * 2
        assert lr.get_last_lr() == [0.1 * 0.9**t, 0.02 * 0.5 ** (t // 5)]
        assert lr.get_last_lr() == lr.lr_at(t)
    assert opt.param_groups[0]["initial_weight_decay"] == 1e-2
    beta_opt = ok.Adam(_groups(), lr=0.1, betas=(torch.tensor(0.9), torch.tensor(0.99)), foreach=False)
    beta = beta_opt.param_groups[0]["betas"][0]
    b1 = O.ParamScheduler(beta_opt, schedules.cyclic(0.95, 0.85, 4), key="betas[0]", relative=False)
    for t in range(1, 10):
        beta_opt.step()
        b1.step()
        assert beta_opt.param_groups[0]["betas"][0] is beta
        assert beta.item() == torch.tensor(schedules.cyclic(0.95, 0.85, 4)(t)).item()
    float_opt = ok.Adam(_groups(), lr=0.1)
    O.ParamScheduler(float_opt, schedules.constant(0.5), key="betas[1]")
    assert float_opt.param_groups[1]["betas"] == (0.9, 0.999 * 0.5)
    with pytest.raises(KeyError, match="no hyperparameter 'momentum'"):
        O.ParamScheduler(ok.Adam(_groups()), schedules.constant(), key="momentum")
    state = _round_trip(lr.state_dict())
    assert "schedules" not in state


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
def test_compiled_step_does_not_recompile_under_one_cycle() -> None:
    """Tensor lr and betas are filled in place, so the compiled step's guards keep holding."""
    import torch._dynamo

    frames: list[int] = []

    def counting_backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> Any:
        frames.append(1)
        return gm.forward

    torch._dynamo.reset()
    p = torch.nn.Parameter(torch.ones(4))
    opt = ok.Adam([p], lr=torch.tensor(0.01), betas=(torch.tensor(0.9), torch.tensor(0.999)), foreach=False)
    sched = O.OneCycleLR(opt, max_lr=0.1, total_steps=40, cycle_momentum=True)
    step = torch.compile(opt.step, backend=counting_backend)
    p.grad = torch.full((4,), 0.5)
    step()
    sched.step()
    step()  # the state exists from here on: the steady-state graph(s)
    sched.step()
    compiled = len(frames)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(28):
            p.grad = torch.randn(4)
            step()
            sched.step()
    assert len(frames) == compiled
    assert opt.param_groups[0]["betas"][0].item() != 0.95  # the schedule did move
    # The check can fail: replacing the Tensor beta by a float, as torch's OneCycleLR does, is a
    # recompile.
    group = opt.param_groups[0]
    group["betas"] = (0.9, group["betas"][1])
    with torch._dynamo.config.patch(error_on_recompile=True), pytest.raises(torch._dynamo.exc.RecompileError):
        step()
    torch._dynamo.reset()


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_scheduler_registry() -> None:
    names = list_schedulers()
    for cls_name in T.__all__:
        if cls_name == "LRScheduler":
            continue
        spec = get_scheduler(cls_name)
        assert spec.cls is getattr(O, cls_name)
        assert spec.torch_name == cls_name and spec.name == cls_name.lower() in names
    assert get_scheduler("ParamScheduler").torch_name is None
    assert list_schedulers("*cycl*") == ["cycliclr", "onecyclelr"]
    with pytest.raises(KeyError, match="did you mean steplr"):
        get_scheduler("stepl")
    assert all(s.description for s in scheduler_specs())
    assert "lr_scheduler" in ok.__all__ and ok.lr_scheduler is O


def test_warm_restarts_step_epoch_lands_on_the_restart() -> None:
    """step(epoch) at a restart boundary: torch's logarithm can land one period early (e.g. T_0=1,
    T_mult=3, epoch=121 gives the end of the previous period); ours agrees with plain stepping."""
    stepped_opt = make_opt("sgd", "ok")
    stepped = O.CosineAnnealingWarmRestarts(stepped_opt, T_0=1, T_mult=3, eta_min=0.001)
    for _ in range(121):
        stepped_opt.step()
        stepped.step()
    jumped_opt, torch_opt = make_opt("sgd", "ok"), make_opt("sgd", "torch")
    jumped = O.CosineAnnealingWarmRestarts(jumped_opt, T_0=1, T_mult=3, eta_min=0.001)
    theirs = T.CosineAnnealingWarmRestarts(torch_opt, T_0=1, T_mult=3, eta_min=0.001)
    jumped_opt.step(); torch_opt.step()
    jumped.step(121)
    theirs.step(121)
    assert (jumped.T_cur, jumped.T_i) == (stepped.T_cur, stepped.T_i) == (0, 243)
    assert _snapshot(jumped_opt) == _snapshot(stepped_opt) == (0.1, 0.9, 0.02, 0.9)
    assert theirs.T_cur == 81 and theirs.T_i == 81  # torch: one period early
