"""The Cerebras schedulers against their documented formulas, written out independently here with
the math module (float64), and their weight-decay twins."""

from __future__ import annotations

import inspect
import math
import warnings

import pytest
import torch

import optimkit.cerebras.optim.lr_scheduler as C
from optimkit import schedules
from optimkit.optim import SGD, AdamW
from optimkit.registry import get_scheduler, list_schedulers

STEPS = [0, 1, 2, 3, 5, 7, 10, 13, 20, 37, 50, 99, 100, 101, 150, 333]


def make_opt(groups: int = 1) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(2))]} for _ in range(groups)]
    return SGD(params, lr=123.0, weight_decay=0.5)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


# Each case: (class, kwargs, formula(t)) -- the formula is Cerebras' documented one, typed here
# from the documentation, not from the implementation.
def _poly(t: float, a: float, b: float, T: int, p: float, cycle: bool) -> float:
    if cycle:
        D = T * max(1, math.ceil(t / T))
        return (a - b) * (1 - t / D) ** p + b
    return (a - b) * (1 - min(t, T) / T) ** p + b


def _one_cycle(t: float, lo: float, hi: float, T: int, pct: float, fdf: float) -> float:
    end1, end2 = pct * T - 1, T - 1
    t = min(t, T - 1)
    if t <= end1:
        p = t / end1
        return hi + (lo - hi) / 2 * (1 + math.cos(math.pi * p))
    p = (t - end1) / (end2 - end1)
    final = lo / fdf
    return final + (hi - final) / 2 * (1 + math.cos(math.pi * p))


def _restarts(t: int, T0: int, mult: int) -> tuple[int, int]:
    start, period = 0, T0
    while t >= start + period:
        start, period = start + period, period * mult
    return t - start, period


CASES = [
    (C.ConstantLR, dict(learning_rate=0.3), lambda t: 0.3),
    (C.PolynomialLR, dict(initial_learning_rate=0.1, end_learning_rate=0.01, total_iters=40, power=2.0),
     lambda t: _poly(t, 0.1, 0.01, 40, 2.0, False)),
    (C.PolynomialLR, dict(initial_learning_rate=0.1, end_learning_rate=0.01, total_iters=40, power=0.5, cycle=True),
     lambda t: _poly(t, 0.1, 0.01, 40, 0.5, True)),
    (C.LinearLR, dict(initial_learning_rate=0.0, end_learning_rate=0.2, total_iters=30),
     lambda t: 0.0 + (0.2 - 0.0) * min(t, 30) / 30),
    (C.LinearLR, dict(initial_learning_rate=0.2, end_learning_rate=0.05, total_iters=30, cycle=True),
     lambda t: _poly(t, 0.2, 0.05, 30, 1.0, True)),
    (C.ExponentialLR, dict(initial_learning_rate=0.1, total_iters=7, decay_rate=0.8),
     lambda t: 0.1 * 0.8 ** (t / 7)),
    (C.ExponentialLR, dict(initial_learning_rate=0.1, total_iters=7, decay_rate=0.8, staircase=True),
     lambda t: 0.1 * 0.8 ** math.floor(t / 7)),
    (C.InverseExponentialTimeDecayLR, dict(initial_learning_rate=0.1, step_exponent=2, total_iters=9, decay_rate=0.3),
     lambda t: 0.1 / (1 + 0.3 * (t**2 / 9))),
    (C.InverseExponentialTimeDecayLR,
     dict(initial_learning_rate=0.1, step_exponent=1, total_iters=9, decay_rate=0.3, staircase=True),
     lambda t: 0.1 / (1 + 0.3 * math.floor(t / 9))),
    (C.InverseSquareRootDecayLR, dict(initial_learning_rate=0.5, scale=3.0, warmup_steps=10),
     lambda t: 0.5 * 3.0 / math.sqrt(max(t, 10))),
    (C.CosineDecayLR, dict(initial_learning_rate=0.1, end_learning_rate=0.001, total_iters=100),
     lambda t: 0.001 + (0.1 - 0.001) / 2 * (1 + math.cos(math.pi * min(t, 100) / 100))),
    (C.PiecewiseConstantLR, dict(learning_rates=[0.3, 0.2, 0.1], milestones=[10, 50]),
     lambda t: 0.3 if t < 10 else 0.2 if t < 50 else 0.1),
    (C.MultiStepLR, dict(initial_learning_rate=0.4, gamma=0.3, milestones=[5, 20, 100]),
     lambda t: 0.4 * 0.3 ** sum(t >= m for m in (5, 20, 100))),
    (C.StepLR, dict(initial_learning_rate=0.4, step_size=13, gamma=0.7),
     lambda t: 0.4 * 0.7 ** (t // 13)),
    (C.CosineAnnealingLR, dict(initial_learning_rate=0.1, T_max=37, eta_min=0.01),
     lambda t: 0.01 + (0.1 - 0.01) / 2 * (1 + math.cos(math.pi * t / 37))),
    (C.LambdaLR, dict(initial_learning_rate=0.2, lr_lambda=lambda t: 1 / (1 + t)),
     lambda t: 0.2 / (1 + t)),
    (C.CosineAnnealingWarmRestarts, dict(initial_learning_rate=0.1, T_0=5, T_mult=1, eta_min=0.001),
     lambda t: 0.001 + (0.1 - 0.001) / 2 * (1 + math.cos(math.pi * (t % 5) / 5))),
    (C.CosineAnnealingWarmRestarts, dict(initial_learning_rate=0.1, T_0=3, T_mult=3, eta_min=0.001),
     lambda t: 0.001 + (0.1 - 0.001) / 2 * (1 + math.cos(math.pi * _restarts(t, 3, 3)[0] / _restarts(t, 3, 3)[1]))),
    (C.MultiplicativeLR, dict(initial_learning_rate=0.2, coefficient=0.97), lambda t: 0.2 * 0.97**t),
    (C.CyclicLR, dict(base_lr=0.01, max_lr=0.1, step_size_up=7, step_size_down=3),
     lambda t: _cyclic(t, 0.01, 0.1, 7, 3, lambda c, n: 1.0)),
    (C.CyclicLR, dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="triangular2"),
     lambda t: _cyclic(t, 0.01, 0.1, 4, 4, lambda c, n: 0.5 ** (c - 1))),
    (C.CyclicLR, dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.99),
     lambda t: _cyclic(t, 0.01, 0.1, 4, 4, lambda c, n: 0.99**n)),
    (C.OneCycleLR, dict(initial_learning_rate=0.004, max_lr=0.1, total_steps=100, pct_start=0.25, final_div_factor=100.0),
     lambda t: _one_cycle(t, 0.004, 0.1, 100, 0.25, 100.0)),
]


def _cyclic(t: float, lo: float, hi: float, up: int, down: int, scale) -> float:
    total = up + down
    c = math.floor(1 + t / total)
    x = 1 + t / total - c
    ratio = up / total
    r = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    return lo + (hi - lo) * r * scale(c, t)


@pytest.mark.parametrize("cls, kwargs, formula", CASES, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_closed_form_equals_documented_formula(cls, kwargs, formula) -> None:
    opt = make_opt(groups=2)
    sched = cls(opt, **kwargs)
    for t in STEPS:
        expected = formula(t)
        assert all(close(v, expected) for v in sched.lr_at(t)), (t, sched.lr_at(t), expected)


@pytest.mark.parametrize("cls, kwargs, formula", CASES[::3], ids=[c.__name__ for c, _, _ in CASES[::3]])
def test_stepping_sets_the_formula_in_every_group(cls, kwargs, formula) -> None:
    opt = make_opt(groups=2)
    sched = cls(opt, **kwargs)
    for t in range(60):
        expected = formula(t)
        assert all(close(g["lr"], expected) for g in opt.param_groups), t
        assert all(close(v, expected) for v in sched.get_last_lr())
        assert sched.last_epoch == t
        opt.step()
        sched.step()


def test_values_are_python_floats_float64() -> None:
    opt = make_opt()
    sched = C.CosineDecayLR(opt, 1.0, 1e-9, total_iters=10**6)
    value = sched.lr_at(1)[0]
    assert type(value) is float
    # float32 would round this to 1.0; float64 keeps the 1e-12-sized decrease.
    assert value < 1.0 and close(value, 1e-9 + (1 - 1e-9) / 2 * (1 + math.cos(math.pi / 10**6)))


def test_sequential_runs_children_from_their_own_step_zero() -> None:
    opt = make_opt()
    warm = C.LinearLR(opt, 0.0, 0.1, total_iters=10)
    decay = C.CosineDecayLR(opt, 0.1, 0.0, total_iters=20)
    tail = C.ConstantLR(opt, 0.005)
    seq = C.SequentialLR(opt, [warm, decay, tail], milestones=[10, 30])
    for t in STEPS:
        if t < 10:
            expected = 0.1 * t / 10
        elif t < 30:
            expected = 0.1 / 2 * (1 + math.cos(math.pi * min(t - 10, 20) / 20))
        else:
            expected = 0.005
        assert close(seq.lr_at(t)[0], expected), t
    assert opt.param_groups[0]["lr"] == 0.0  # construction put step 0 in place
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        C.SequentialLR(opt, [warm, decay], milestones=[10, 20])
    with pytest.raises(TypeError, match="list of integers"):
        C.SequentialLR(opt, [warm, decay], milestones=[10.0])


def test_chained_multiplies_relative_factors() -> None:
    opt = make_opt()
    a = C.CosineDecayLR(opt, 0.2, 0.02, total_iters=50)
    b = C.StepLR(opt, 4.0, step_size=10, gamma=0.5)
    c = C.MultiplicativeLR(opt, 0.5, coefficient=0.99)
    chain = C.ChainedScheduler([a, b, c])
    for t in STEPS:
        cos = 0.02 + 0.18 / 2 * (1 + math.cos(math.pi * min(t, 50) / 50))
        expected = cos * (4.0 * 0.5 ** (t // 10)) / 4.0 * (0.5 * 0.99**t) / 0.5
        assert math.isclose(chain.lr_at(t)[0], expected, rel_tol=1e-12), t
    warm = C.LinearLR(opt, 0.0, 1.0, total_iters=5)
    with pytest.raises(ValueError, match="initial value 0"):
        C.ChainedScheduler([a, warm])
    assert C.ChainedLR is C.ChainedScheduler


def test_scale_per_param_multiplies_each_group() -> None:
    p, q, r = (torch.nn.Parameter(torch.zeros(1)) for _ in range(3))
    opt = AdamW([{"params": [p]}, {"params": [q], "adjust_learning_rate": 0.25}, {"params": [r], "adjust_val": 3.0}])
    inner = C.CosineDecayLR(opt, 0.1, 0.0, total_iters=10)
    sched = C.ScalePerParamLR(opt, inner)
    for t in (0, 3, 10, 12):
        base = 0.1 / 2 * (1 + math.cos(math.pi * min(t, 10) / 10))
        assert [close(v, e) for v, e in zip(sched.lr_at(t), (base, 0.25 * base, 3.0 * base))] == [True] * 3


def test_param_group_tags_restrict_the_groups() -> None:
    p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = SGD([{"params": [p], "tags": {"decay"}}, {"params": [q], "weight_decay": 0.3}], lr=0.1, weight_decay=0.5)
    sched = C.LinearWD(opt, initial_val=0.2, end_val=0.0, total_iters=4, param_group_tags="decay")
    for _ in range(2):
        opt.step()
        sched.step()
    assert close(opt.param_groups[0]["weight_decay"], 0.1)
    assert opt.param_groups[1]["weight_decay"] == 0.3
    with pytest.raises(ValueError, match="none of them were applied"):
        C.ConstantLR(opt, 0.1, param_group_tags=["absent"])


def test_lambda_needs_a_function_or_an_override() -> None:
    opt = make_opt()
    with pytest.raises(TypeError, match="lr_lambda"):
        C.LambdaLR(opt, 0.1)

    class Halving(C.LambdaLR):
        def set_lr_lambda(self):
            return [lambda t: 0.5**t, lambda t: 1.0 + t]

    sched = Halving(opt, 0.1)
    assert all(close(sched.lr_at(t)[0], 0.1 * 0.5**t * (1 + t)) for t in range(10))


def test_one_cycle_three_phase_and_hold() -> None:
    opt = make_opt()
    sched = C.OneCycleLR(opt, 0.01, max_lr=0.1, total_steps=20, pct_start=0.25, three_phase=True,
                         anneal_strategy="linear", final_div_factor=10.0)
    ends = [0.25 * 20 - 1, 2 * 0.25 * 20 - 2, 19]
    points = [(0.01, 0.1), (0.1, 0.01), (0.01, 0.001)]
    for t in range(25):
        s = min(t, 19)
        start = 0.0
        for end, (a, b) in zip(ends, points):
            if s <= end or end == ends[-1]:
                expected = a + (b - a) * (s - start) / (end - start)
                break
            start = end
        assert close(sched.lr_at(t)[0], expected), t


def test_weight_decay_twins_drive_weight_decay_with_the_same_formula() -> None:
    assert len(C.WD_SCHEDULERS) == len(C.LR_SCHEDULERS)
    for lr_cls, wd_cls in zip(C.LR_SCHEDULERS, C.WD_SCHEDULERS):
        assert issubclass(wd_cls, lr_cls) and wd_cls.param_group_key == "weight_decay"
        assert getattr(C, wd_cls.__name__) is wd_cls and wd_cls.__name__ in C.__all__
    assert [c.__name__ for c in C.WD_SCHEDULERS][:3] == ["ConstantWD", "PolynomialWD", "LinearWD"]
    assert C.ChainedWD.__name__ == "ChainedWD" and C.CosineAnnealingWarmRestartsWD.__name__.endswith("WD")
    params = list(inspect.signature(C.CosineDecayWD).parameters)
    assert params == ["optimizer", "initial_val", "end_val", "total_iters", "param_group_tags"]

    opt = make_opt()
    wd = C.CosineDecayWD(opt, initial_val=0.1, end_val=0.0, total_iters=8)
    lr = C.CosineDecayLR(opt, 0.1, 0.0, total_iters=8)
    for t in range(10):
        expected = 0.1 / 2 * (1 + math.cos(math.pi * min(t, 8) / 8))
        assert close(opt.param_groups[0]["weight_decay"], expected)
        assert close(wd.values_at(t)[0], expected) and close(lr.lr_at(t)[0], expected)
        opt.step()
        wd.step()
        lr.step()
    with pytest.raises(TypeError):
        C.CosineDecayWD(opt, initial_learning_rate=0.1, end_val=0.0, total_iters=8)
    # Children must drive the same key.
    with pytest.raises(ValueError, match="param_group_key"):
        C.SequentialWD(opt, [C.ConstantWD(opt, 0.1), C.ConstantLR(opt, 0.1)], milestones=[3])
    seq = C.SequentialWD(opt, [C.LinearWD(opt, 0.0, 0.2, 4), C.PiecewiseConstantWD(opt, vals=[0.2, 0.1], milestones=[3])], [4])
    assert [seq.values_at(t)[0] for t in (0, 2, 4, 6, 7)] == [0.0, 0.1, 0.2, 0.2, 0.1]


def test_weight_decay_schedule_reaches_the_update() -> None:
    """A scheduled weight decay changes the step exactly like a constant one of the same value."""
    w1 = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    w2 = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    scheduled = AdamW([w1], lr=0.1, weight_decay=0.0)
    wd = C.LinearWD(scheduled, initial_val=0.5, end_val=0.0, total_iters=4)
    reference = AdamW([w2], lr=0.1, weight_decay=0.5)
    for t in range(3):
        for w in (w1, w2):
            w.grad = torch.full_like(w, 0.3)
        reference.param_groups[0]["weight_decay"] = 0.5 * (1 - t / 4)
        scheduled.step()
        reference.step()
        wd.step()
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)


def test_works_with_torch_optimizers_and_tensor_lr() -> None:
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([w], lr=torch.tensor(0.01))
    lr_tensor = opt.param_groups[0]["lr"]
    sched = C.StepLR(opt, 0.1, step_size=1, gamma=0.5)
    w.grad = torch.ones(2)
    opt.step()
    sched.step()
    # Filled in place (same tensor); a float32 tensor holds 0.05 to float32 precision.
    assert opt.param_groups[0]["lr"] is lr_tensor and math.isclose(float(lr_tensor), 0.05, rel_tol=1e-7)


def test_state_dict_is_plain_data_and_resumes() -> None:
    opt = make_opt()
    seq = C.SequentialLR(opt, [C.LinearLR(opt, 0.0, 0.1, 5), C.CosineDecayLR(opt, 0.1, 0.0, 10)], [5])
    for _ in range(7):
        opt.step()
        seq.step()
    state = seq.state_dict()
    assert "_schedulers" not in state and "schedules" not in state and "optimizer" not in state
    opt2 = make_opt()
    again = C.SequentialLR(opt2, [C.LinearLR(opt2, 0.0, 0.1, 5), C.CosineDecayLR(opt2, 0.1, 0.0, 10)], [5])
    again.load_state_dict(state)
    opt2.step()
    again.step()
    opt.step()
    seq.step()
    assert again.get_last_lr() == seq.get_last_lr() and again.last_epoch == 8


def test_combined_scheduler_steps_both_keys() -> None:
    opt = make_opt()
    both = C.CombinedScheduler([C.CosineDecayLR(opt, 0.1, 0.0, 4), C.LinearWD(opt, 0.2, 0.0, 4)])
    for t in range(1, 5):
        opt.step()
        both.step()
        assert close(opt.param_groups[0]["lr"], 0.05 * (1 + math.cos(math.pi * t / 4)))
        assert close(opt.param_groups[0]["weight_decay"], 0.2 * (1 - t / 4))
    values = both.values_at(2)
    assert close(values["lr"][0], 0.05) and close(values["weight_decay"][0], 0.1)
    assert close(both.lr_at(2)[0], 0.05)


def test_registry_namespace_keeps_torch_names_apart() -> None:
    assert get_scheduler("CosineDecayLR", namespace="cerebras").cls is C.CosineDecayLR
    assert get_scheduler("StepLR", namespace="cerebras").cls is C.StepLR
    assert get_scheduler("StepLR").cls is not C.StepLR  # torch's facade is untouched
    assert get_scheduler("cosinedecaywd", namespace="cerebras").cls is C.CosineDecayWD
    names = list_schedulers(namespace="cerebras")
    assert {c.__name__.lower() for c in C.LR_SCHEDULERS + C.WD_SCHEDULERS} == set(names)
    assert "cosinedecaylr" not in list_schedulers()
    with pytest.raises(ValueError, match="unknown scheduler namespace"):
        list_schedulers(namespace="keras")


def test_pure_schedules_added_for_cerebras() -> None:
    f = schedules.polynomial_decay(2.0, 1.0, total_steps=10, power=3.0, cycle=True)
    for t in (0, 5, 10, 11, 25, 30, 31):
        D = 10 * max(1, math.ceil(t / 10))
        assert close(f(t), (2.0 - 1.0) * (1 - t / D) ** 3 + 1.0)
    with pytest.raises(ValueError, match="one more value"):
        schedules.piecewise_constant([1.0], [3])
    with pytest.raises(ValueError, match="strictly increasing"):
        schedules.piecewise_constant([1.0, 2.0, 3.0], [3, 3])
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.inverse_square_root(warmup_steps=0)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.exponential_decay(1.0, 0, 0.5)


def test_no_warning_in_normal_use() -> None:
    opt = make_opt()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = C.CosineDecayLR(opt, 0.1, 0.0, 10)
        opt.step()
        sched.step()


# --------------------------------------------------------------------------------------------
# The package layout: one public module, shared plumbing, formulas from optimkit.schedules
# --------------------------------------------------------------------------------------------


def test_classes_belong_to_the_public_module_and_pickle() -> None:
    import pickle

    classes = [getattr(C, name) for name in C.__all__ if isinstance(getattr(C, name), type)]
    expected = {C.LRScheduler, C.WDScheduler, C.CombinedScheduler, *C.LR_SCHEDULERS, *C.WD_SCHEDULERS}
    assert set(classes) == expected and C.ChainedLR is C.ChainedScheduler
    for cls in classes:
        assert cls.__module__ == "optimkit.cerebras.optim.lr_scheduler", cls
        assert pickle.loads(pickle.dumps(cls)) is cls
    # __all__ lists the twins in the order of WD_SCHEDULERS, after the tables.
    start = C.__all__.index("WD_SCHEDULERS") + 1
    assert C.__all__[start:] == [cls.__name__ for cls in C.WD_SCHEDULERS]
    assert len(set(C.__all__)) == len(C.__all__)


def test_no_private_imports_from_the_torch_facade() -> None:
    """The Cerebras package takes its plumbing from optimkit._scheduler_plumbing, not from the
    private names of optimkit.optim.lr_scheduler."""
    import ast
    from pathlib import Path

    package = Path(C.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("optim.lr_scheduler"):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, (path.name, private)


def test_torch_facade_reexports_the_shared_plumbing() -> None:
    import optimkit._scheduler_plumbing as plumbing
    import optimkit.optim.lr_scheduler as T
    from optimkit.optim.lr_scheduler import _base

    for name in ("Number", "_check_optimizer", "_per_group", "_read_hyper", "_warn_unless_in_step"):
        assert getattr(T, name) is getattr(plumbing, name)
    for name in ("_write_hyper", "_set_group_value", "_set_momentum", "_track_optimizer_step", "_Flag", "_float"):
        assert getattr(_base, name) is getattr(plumbing, name)


def test_call_order_problem_reads_the_step_marker() -> None:
    from optimkit._scheduler_plumbing import _call_order_problem, _track_optimizer_step

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    assert "overridden" in _call_order_problem(opt)
    _track_optimizer_step(opt)
    assert "before `optimizer.step()`" in _call_order_problem(opt)
    opt.step()
    assert _call_order_problem(opt) is None


def test_scaled_and_normalized_schedules() -> None:
    base = schedules.step(3, 0.7)
    f = schedules.scaled(base, 0.4)
    g = schedules.normalized(base, 0.7)
    for t in STEPS:
        # Bit for bit the products and quotients the schedulers computed inline before.
        assert f(t) == 0.4 * base(t) and g(t) == base(t) / 0.7
    with pytest.raises(ValueError, match="non-zero"):
        schedules.normalized(base, 0.0)
    with pytest.raises(TypeError, match="callable"):
        schedules.scaled(0.5, 2.0)  # type: ignore[arg-type]
    # Absolute schedulers over a factor schedule are its scaled version.
    opt = make_opt()
    step_lr = C.StepLR(opt, initial_learning_rate=0.4, step_size=3, gamma=0.7)
    assert [step_lr.lr_at(t)[0] for t in STEPS] == [f(t) for t in STEPS]


def test_cyclic_scale_mode_follows_the_mode() -> None:
    opt = make_opt()
    modes = {mode: C.CyclicLR(opt, 0.01, 0.1, mode=mode).scale_mode for mode in ("triangular", "triangular2", "exp_range")}
    assert modes == {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}
    with pytest.raises(ValueError, match="mode must be one of"):
        C.CyclicLR(opt, 0.01, 0.1, mode="sawtooth")
