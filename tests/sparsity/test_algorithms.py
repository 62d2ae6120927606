"""Issue 15, part 3 (b): GMP follows Zhu & Gupta's cubic and reaches the target at the configured
step; static, SET and RigL do what their papers say."""

from __future__ import annotations

import math

import pytest
import torch

from optimkit.optim import SGD, Adam
from optimkit.sparsity import GMP, GMPSchedule, RigL, UpdateSchedule, configure


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, algorithm: object, steps: int,
           after_step: object = None) -> None:
    for step in range(steps):
        x = torch.randn(16, model[0].in_features, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        algorithm.step()  # type: ignore[attr-defined]
        if after_step is not None:
            after_step(step + 1)  # type: ignore[operator]


def _model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    # 100 and 40 entries: every level below is a whole number of entries of the first.
    return torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.ReLU(), torch.nn.Linear(10, 4))


def zhu_gupta(t: int, s_i: float, s_f: float, t0: int, n: int, dt: int) -> float:
    """Zhu & Gupta (2017), eq. (1), written out independently of optimkit."""
    return s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3


# ------------------------------------------------------------------------------------------- GMP


def test_gmp_follows_the_cubic_and_reaches_the_target_at_end() -> None:
    model = _model()
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    t0, dt, n, s_i, s_f = 3, 4, 5, 0.1, 0.8  # pruning steps 3, 7, 11, 15, 19, 23
    gmp = GMP(opt, sparsity=s_f, schedule={"start": t0, "end": t0 + n * dt, "freq": dt, "initial_sparsity": s_i})
    weight = model[0].weight
    seen: dict[int, float] = {0: float((~gmp.masks[weight]).float().mean())}
    masks = {0: gmp.masks[weight]}

    def record(t: int) -> None:
        seen[t] = float((~gmp.masks[weight]).float().mean())
        masks[t] = gmp.masks[weight]

    _train(model, opt, gmp, 30, record)
    pruning_steps = [t for t in range(31) if gmp.schedule.is_update_step(t)]
    assert pruning_steps == [3, 7, 11, 15, 19, 23]
    assert seen[0] == pytest.approx(s_i)  # configure time: the initial level
    for t in range(31):
        last = max([p for p in pruning_steps if p <= t], default=None)
        expected = s_i if last is None else zhu_gupta(last, s_i, s_f, t0, n, dt)
        # The tensor's level is the curve's, to the nearest entry (100 entries).
        assert seen[t] == pytest.approx(math.floor(expected * 100 + 0.5) / 100), t
        assert gmp.target_sparsity(t) == pytest.approx(expected)
    assert seen[22] < s_f and seen[23] == pytest.approx(s_f) and seen[30] == pytest.approx(s_f)
    # The cubic prunes fast first, slowly at the end.
    jumps = [seen[b] - seen[a] for a, b in zip(pruning_steps, pruning_steps[1:])]
    assert all(x > y for x, y in zip(jumps, jumps[1:])), jumps
    # A pruned entry never grows back.
    assert all(bool((masks[t] <= masks[t - 1]).all()) for t in range(1, 31))
    # Biases (vectors) stay dense; the second weight follows the same schedule.
    assert set(gmp.masks) == {model[0].weight, model[2].weight}
    assert gmp.actual_sparsity() == pytest.approx(s_f, abs=0.01)


def test_gmp_prunes_the_smallest_magnitudes() -> None:
    model = _model()
    opt = SGD(model.parameters(), lr=0.0)  # no movement: the ranking is the initial weights'
    gmp = GMP(opt, sparsity=0.5, schedule={"end": 1})
    weight = model[0].weight.detach().clone()
    _train(model, opt, gmp, 1)
    mask = gmp.masks[model[0].weight]
    assert int(mask.sum()) == 50
    assert weight.abs()[mask].min() >= weight.abs()[~mask].max()


def test_gmp_end_off_the_frequency_grid_is_still_a_pruning_step() -> None:
    ramp = GMPSchedule(start=0, end=10, freq=4)
    assert [t for t in range(15) if ramp.is_update_step(t)] == [0, 4, 8, 10]
    assert ramp.sparsity_at(9, final=0.5) == ramp.curve(8, final=0.5) < 0.5 == ramp.sparsity_at(10, final=0.5)


def test_gmp_schedule_math() -> None:
    ramp = GMPSchedule(start=100, end=1100, freq=100, initial_sparsity=0.0)
    for t in range(100, 1101, 100):
        assert ramp.curve(t, final=0.9) == pytest.approx(zhu_gupta(t, 0.0, 0.9, 100, 10, 100))
    assert ramp.sparsity_at(50, final=0.9) == 0.0 and ramp.sparsity_at(5000, final=0.9) == 0.9
    assert ramp.sparsity_at(650, final=0.9) == ramp.curve(600, final=0.9)


# ---------------------------------------------------------------------------------------- static


@pytest.mark.parametrize("init_method", ["magnitude", "topk", "random"])
def test_static_keeps_one_mask(init_method: str) -> None:
    model = _model()
    opt = Adam(model.parameters(), lr=0.05)
    static = configure(opt, {"algorithm": "static", "sparsity": 0.7, "init_method": init_method, "seed": 3})
    first = static.masks
    assert int(first[model[0].weight].sum()) == 30 and int(first[model[2].weight].sum()) == 12
    _train(model, opt, static, 5)
    assert all(torch.equal(first[p], m) for p, m in static.masks.items())
    if init_method == "random":  # its own stream: the same seed, the same mask, whatever torch's RNG
        torch.manual_seed(123)
        again = configure(Adam(_model().parameters()), {"algorithm": "static", "sparsity": 0.7,
                                                        "init_method": "random", "seed": 3})
        assert [m.tolist() for m in again.masks.values()] == [m.tolist() for m in first.values()]


# ----------------------------------------------------------------------------------- SET and RigL


@pytest.mark.parametrize("algorithm", ["set", "rigl"])
def test_dynamic_sparsity_moves_connections_at_a_constant_level(algorithm: str) -> None:
    model = _model()
    opt = Adam(model.parameters(), lr=0.05)
    dynamic = configure(opt, {"algorithm": algorithm, "sparsity": 0.6, "drop_fraction": 0.25,
                              "update": {"freq": 3, "start": 2, "stop": 12}})
    weight = model[0].weight
    history = {0: dynamic.masks[weight]}

    def record(t: int) -> None:
        history[t] = dynamic.masks[weight]
        pruned = ~history[t]
        assert bool((weight[pruned] == 0).all())
        for key in ("exp_avg", "exp_avg_sq"):
            assert bool((opt.state[weight][key][pruned] == 0).all())

    _train(model, opt, dynamic, 15, record)
    changed = [t for t in range(1, 16) if not torch.equal(history[t], history[t - 1])]
    assert changed == [2, 5, 8, 11]
    assert all(int(m.sum()) == 40 for m in history.values())
    for t in changed:  # 25% of the 40 kept connections moved (a dropped one may be regrown)
        assert 0 < int((history[t - 1] & ~history[t]).sum()) <= 10


def test_rigl_grows_where_the_dense_gradient_is_largest() -> None:
    w = torch.nn.Parameter(torch.tensor([[5.0, 4.0, 3.0, 0.1, 2.0, 1.0, 0.5, 0.2]]))
    opt = SGD([w], lr=0.0)
    rigl = RigL(opt, sparsity=0.5, drop_fraction=0.5, update={"freq": 1})
    assert rigl.masks[w].tolist() == [[True, True, True, False, True, False, False, False]]
    # Pruned entries 3, 5, 6, 7 have dense gradients 9, 1, 8, 2: the kept 3 (|w| = 3.0) and 2
    # (2.0) are dropped, and 3 and 6 grow.
    w.grad = torch.tensor([[0.0, 0.0, 0.0, 9.0, 0.0, 1.0, 8.0, 2.0]])
    opt.step()
    assert w.grad.tolist() == [[0.0] * 8]  # the pre-hook zeroed the pruned gradient entries
    rigl.step()
    assert rigl.masks[w].tolist() == [[True, True, False, True, False, False, True, False]]
    assert w.tolist() == [[5.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]  # grown at zero, dropped zeroed


def test_drop_fraction_cosine_decay() -> None:
    model = _model()
    rigl = configure(SGD(model.parameters(), lr=0.1), {"algorithm": "rigl", "sparsity": 0.5, "drop_fraction": 0.4,
                                                       "drop_fraction_decay": "cosine",
                                                       "update": {"freq": 10, "start": 0, "stop": 100}})
    assert [round(rigl.drop_fraction_at(t), 6) for t in (0, 50, 100)] == [0.4, 0.2, 0.0]
    assert rigl.drop_fraction_at(25) == pytest.approx(0.2 * (1 + math.cos(math.pi / 4)))
    assert [t for t in range(1, 120) if rigl.update.is_update_step(t)] == list(range(10, 100, 10))
    assert UpdateSchedule().freq == 100


def test_parameter_selection() -> None:
    model = _model()
    named = configure(SGD(model.named_parameters(), lr=0.1), {"algorithm": "static", "sparsity": 0.5,
                                                               "param_filter": ["*", "!2.*"]})
    assert list(named.param_names.values()) == ["0.weight", "0.bias"]
    by_module = configure(SGD(model.parameters(), lr=0.1), {"algorithm": "static", "sparsity": 0.5,
                                                           "params": "2.weight"}, names=model)
    assert list(by_module.param_names.values()) == ["2.weight"]
    explicit = configure(SGD(model.parameters(), lr=0.1), {"algorithm": "static", "sparsity": 0.5,
                                                          "params": [model[2].bias]})
    assert list(explicit.masks) == [model[2].bias]
    only_excluded = configure(SGD(model.named_parameters(), lr=0.1), {"algorithm": "static", "sparsity": 0.5,
                                                                       "params": "!0.*"})
    assert list(only_excluded.param_names.values()) == ["2.weight"]
