"""optimkit.schedules: each pure schedule against an independent reference (a brute-force
simulation written here, or torch's scheduler stepped on a dummy optimizer), eager validation, and
the combinators."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.optim.lr_scheduler as T

from optimkit import schedules as S


def _torch_lrs(make: Callable[[torch.optim.Optimizer], Any], steps: int, lr: float = 1.0) -> list[float]:
    """torch's learning rates after construction and after each step."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr, momentum=0.9)
    sched = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def _close(a: list[float], b: list[float], rel: float = 1e-12, abs_: float = 1e-15) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= max(rel * max(abs(x), abs(y)), abs_) for x, y in zip(a, b))


def test_constant() -> None:
    assert [S.constant(0.3)(t) for t in range(5)] == [0.3] * 5
    f = S.constant(0.25, total_steps=3)
    assert [f(t) for t in range(6)] == [0.25, 0.25, 0.25, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("size,gamma", [(1, 0.9), (4, 0.5), (10, 0.1)])
def test_step_is_a_running_product(size: int, gamma: float) -> None:
    value, want = 1.0, []
    for t in range(100):
        if t and t % size == 0:
            value *= gamma
        want.append(value)
    assert _close([S.step(size, gamma)(t) for t in range(100)], want)


def test_multistep_counts_repeated_milestones() -> None:
    marks = [5, 20, 20, 70]
    f = S.multistep(marks, 0.5)
    assert [f(t) for t in range(100)] == [0.5 ** sum(m <= t for m in marks) for t in range(100)]


def test_linear_and_polynomial() -> None:
    f = S.linear(0.2, 1.0, 8)
    assert _close([f(t) for t in range(12)], [0.2 + 0.8 * min(t, 8) / 8 for t in range(12)])
    g = S.polynomial(10, 2.0)
    assert _close([g(t) for t in range(15)], [max(0.0, 1 - t / 10) ** 2 for t in range(15)])
    assert _close([g(t) for t in range(15)], _torch_lrs(lambda o: T.PolynomialLR(o, 10, 2.0), 14), rel=1e-9)


def test_exponential() -> None:
    f = S.exponential(0.97)
    value, want = 1.0, []
    for t in range(200):
        want.append(value)
        value *= 0.97
    assert _close([f(t) for t in range(200)], want, rel=1e-12)


@pytest.mark.parametrize("total,low", [(10, 0.0), (37, 0.1)])
def test_cosine_matches_torch_and_holds_unless_periodic(total: int, low: float) -> None:
    periodic = S.cosine(total, 1.0, low, periodic=True)
    torch_lrs = _torch_lrs(lambda o: T.CosineAnnealingLR(o, total, eta_min=low), 5 * total)
    assert _close([periodic(t) for t in range(5 * total + 1)], torch_lrs, rel=1e-9)
    held = S.cosine(total, 1.0, low)
    assert [held(t) for t in range(total, 3 * total)] == [low] * (2 * total)


def _simulate_restarts(steps: int, t0: int, mult: int) -> list[tuple[int, int]]:
    t_cur, period, out = 0, t0, []
    for _ in range(steps):
        out.append((t_cur, period))
        t_cur += 1
        if t_cur == period:
            t_cur, period = 0, period * mult
    return out


@pytest.mark.parametrize("t0,mult", [(1, 1), (5, 1), (1, 2), (3, 3), (10, 2)])
def test_cosine_warm_restarts(t0: int, mult: int) -> None:
    assert [S.restart_position(t, t0, mult) for t in range(300)] == _simulate_restarts(300, t0, mult)
    f = S.cosine_warm_restarts(t0, mult, 1.0, 0.01)
    torch_lrs = _torch_lrs(lambda o: T.CosineAnnealingWarmRestarts(o, t0, mult, eta_min=0.01), 299)
    assert [f(t) for t in range(300)] == torch_lrs


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("up,down", [(4, None), (6, 3)])
def test_cyclic_matches_torch(mode: str, up: int, down: int | None) -> None:
    f = S.cyclic(0.01, 0.5, up, down, mode=mode, gamma=0.99)
    lrs = _torch_lrs(lambda o: T.CyclicLR(o, 0.01, 0.5, up, down, mode=mode, gamma=0.99, cycle_momentum=False), 100)
    assert [f(t) for t in range(101)] == lrs


def test_cyclic_custom_scale() -> None:
    f = S.cyclic(0.0, 1.0, 2, scale_fn=lambda c: 1.0 / c, scale_mode="cycle")
    assert [f(t) for t in range(9)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25, 0.0]
    g = S.cyclic(0.0, 1.0, 2, scale_fn=lambda t: 0.5 ** t, scale_mode="iterations")
    assert [g(t) for t in range(4)] == [0.0, 0.5 * 0.5, 1.0 * 0.25, 0.5 * 0.125]


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_matches_torch(three_phase: bool, anneal: str) -> None:
    f = S.one_cycle(120, 0.4, pct_start=0.35, anneal_strategy=anneal, three_phase=three_phase)
    lrs = _torch_lrs(lambda o: T.OneCycleLR(o, 0.4, total_steps=120, pct_start=0.35, anneal_strategy=anneal,
                                            three_phase=three_phase), 120)
    assert [f(t) for t in range(121)] == lrs
    with pytest.raises(ValueError, match="Tried to step 121 times"):
        f(121)
    held = S.one_cycle(120, 0.4, pct_start=0.35, anneal_strategy=anneal, three_phase=three_phase, hold=True)
    assert [held(t) for t in range(120)] == lrs[:120]
    assert [held(t) for t in range(119, 200)] == [lrs[119]] * 81
    assert lrs[119] == pytest.approx(0.4 / 25 / 1e4, rel=1e-12)


def test_warmup_join_cycle_multiply() -> None:
    base = S.exponential(0.9)
    w = S.warmup(base, 5, init_value=0.1)
    assert _close([w(t) for t in range(12)], [0.1 + 0.9 * t / 5 for t in range(5)] + [0.9**k for k in range(7)])
    wc = S.warmup(base, 4, anneal_strategy="cos")
    assert _close([wc(t) for t in range(4)], [(1 - math.cos(math.pi * t / 4)) / 2 for t in range(4)])
    j = S.join([S.linear(0.1, 1.0, 10), base, S.constant(0.05)], [10, 30])
    want = [S.linear(0.1, 1.0, 10)(t) for t in range(10)] + [0.9**k for k in range(20)] + [0.05] * 10
    assert [j(t) for t in range(40)] == want
    # join is what torch's SequentialLR does with closed forms
    lrs = _torch_lrs(lambda o: T.SequentialLR(o, [T.LinearLR(o, 0.1, 1.0, 10), T.ExponentialLR(o, 0.9)], [10]), 29)
    assert _close([j(t) for t in range(30)], lrs, rel=1e-9)
    c = S.cycle(S.linear(0.0, 1.0, 4), 5)
    assert [c(t) for t in range(12)] == [0.0, 0.25, 0.5, 0.75, 1.0] * 2 + [0.0, 0.25]
    m = S.multiply(S.step(3, 0.5), S.exponential(0.9))
    assert _close([m(t) for t in range(20)], [0.5 ** (t // 3) * 0.9**t for t in range(20)])


BAD: list[tuple[str, Callable[[], Any]]] = [
    ("step-size", lambda: S.step(0)),
    ("step-size-float", lambda: S.step(2.5)),
    ("multistep-negative", lambda: S.multistep([-1])),
    ("linear-total", lambda: S.linear(0.0, 1.0, 0)),
    ("linear-nan", lambda: S.linear(float("nan"), 1.0, 3)),
    ("exponential-inf", lambda: S.exponential(float("inf"))),
    ("polynomial-total", lambda: S.polynomial(-3)),
    ("cosine-total", lambda: S.cosine(0)),
    ("restarts-period", lambda: S.cosine_warm_restarts(0)),
    ("restarts-mult", lambda: S.cosine_warm_restarts(3, 0)),
    ("cyclic-mode", lambda: S.cyclic(0.0, 1.0, 2, mode="sawtooth")),
    ("cyclic-up", lambda: S.cyclic(0.0, 1.0, 0)),
    ("cyclic-scale-mode", lambda: S.cyclic(0.0, 1.0, 2, scale_fn=abs, scale_mode="epoch")),
    ("one-cycle-pct", lambda: S.one_cycle(10, 1.0, pct_start=1.5)),
    ("one-cycle-anneal", lambda: S.one_cycle(10, 1.0, anneal_strategy="exp")),
    ("one-cycle-div", lambda: S.one_cycle(10, 1.0, div_factor=0.0)),
    ("one-cycle-zero-phase", lambda: S.one_cycle(10, 1.0, pct_start=0.1)),
    ("warmup-steps", lambda: S.warmup(S.constant(), -1)),
    ("warmup-anneal", lambda: S.warmup(S.constant(), 2, anneal_strategy="exp")),
    ("join-count", lambda: S.join([S.constant()], [3])),
    ("join-order", lambda: S.join([S.constant(), S.constant(), S.constant()], [5, 3])),
    ("join-empty", lambda: S.join([], [])),
    ("cycle-period", lambda: S.cycle(S.constant(), 0)),
    ("multiply-empty", lambda: S.multiply()),
]


@pytest.mark.parametrize("name,build", BAD, ids=[b[0] for b in BAD])
def test_invalid_arguments_fail_at_construction(name: str, build: Callable[[], Any]) -> None:
    with pytest.raises(ValueError):
        build()


def test_non_callables_are_type_errors() -> None:
    for build in (lambda: S.warmup(1.0, 2), lambda: S.join([1.0], []), lambda: S.cycle(1.0, 2), lambda: S.multiply(1.0)):
        with pytest.raises(TypeError):
            build()


def test_values_are_python_floats() -> None:
    fs = [S.constant(0.5, 3), S.step(2), S.multistep([1]), S.linear(0.0, 1.0, 3), S.exponential(0.5),
          S.polynomial(4), S.cosine(4), S.cosine_warm_restarts(3, 2), S.cyclic(0.0, 1.0, 2), S.one_cycle(10, 1.0)]
    for f in fs:
        assert all(type(f(t)) is float for t in range(8)), f
