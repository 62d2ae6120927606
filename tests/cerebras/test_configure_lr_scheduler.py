"""configure_lr_scheduler / configure_weight_decay_scheduler: the config forms of issue 6 and
their errors."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

import optimkit.cerebras.optim.lr_scheduler as C
from optimkit.cerebras import configure_lr_scheduler, configure_optimizer, configure_weight_decay_scheduler

ISSUE_YAML = """
optimizer:
  optimizer_type: AdamW
  weight_decay: 0.01
  learning_rate:
    - scheduler: Linear          # warmup
      initial_learning_rate: 0.0
      end_learning_rate: 1.0e-4
      total_iters: 1000
    - scheduler: CosineDecay
      initial_learning_rate: 1.0e-4
      end_learning_rate: 1.0e-6
      total_iters: 9000
"""


def make_opt(groups: int = 1) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(2))]} for _ in range(groups)]
    return configure_optimizer("AdamW", params, learning_rate=1e-3, weight_decay=0.01)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def issue_cosine(t: int) -> float:
    # The cosine part of the issue's schedule, written independently: 9000 steps from 1e-4 to 1e-6,
    # starting at step 1000.
    u = t - 1000
    return 1e-6 + (1e-4 - 1e-6) / 2 * (1 + math.cos(math.pi * min(u, 9000) / 9000))


def test_issue_yaml_schedule() -> None:
    config = yaml.safe_load(ISSUE_YAML)["optimizer"]
    opt = make_opt()
    sched = configure_lr_scheduler(opt, config["learning_rate"])
    assert isinstance(sched, C.SequentialLR) and sched.milestones == [1000]
    assert sched.lr_at(0) == [0.0]
    assert close(sched.lr_at(1000)[0], 1e-4)
    assert close(sched.lr_at(10000)[0], 1e-6)
    assert close(sched.lr_at(20000)[0], 1e-6)  # held after the cosine
    for t in (1, 250, 500, 999):
        assert close(sched.lr_at(t)[0], 1e-4 * t / 1000)
    for t in (1001, 1500, 3250, 5500, 7777, 9999):
        assert close(sched.lr_at(t)[0], issue_cosine(t)), t
    # Stepping the optimizer gives the same values.
    lrs = []
    for t in range(1200):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and close(lrs[1000], 1e-4) and close(lrs[1100], issue_cosine(1100))


@pytest.mark.parametrize("name", ["CosineDecay", "CosineDecayLR", "cosinedecay", "COSINEDECAYLR"])
def test_one_dict_by_name_case_insensitive(name: str) -> None:
    opt = make_opt()
    sched = configure_lr_scheduler(
        opt, {"scheduler": name, "initial_learning_rate": 0.1, "end_learning_rate": 0.0, "total_iters": 10}
    )
    assert type(sched) is C.CosineDecayLR and close(sched.lr_at(5)[0], 0.05)


def test_falsy_gives_none_and_number_gives_constant() -> None:
    opt = make_opt()
    for falsy in (None, 0, 0.0, {}, []):
        assert configure_lr_scheduler(opt, falsy) is None
    sched = configure_lr_scheduler(opt, 3e-4)
    assert type(sched) is C.ConstantLR and sched.lr_at(123) == [3e-4] and opt.param_groups[0]["lr"] == 3e-4
    assert configure_lr_scheduler(opt, "1e-4").lr_at(0) == [1e-4]  # YAML reads 1e-4 as a string


def test_list_sequential_milestones_are_running_sums() -> None:
    opt = make_opt()
    sched = configure_lr_scheduler(opt, [
        {"scheduler": "Constant", "learning_rate": 0.1, "total_iters": 5},
        {"scheduler": "Linear", "initial_learning_rate": 0.1, "end_learning_rate": 0.0, "total_iters": 10},
        {"scheduler": "Exponential", "initial_learning_rate": 0.01, "total_iters": 3, "decay_rate": 0.5},
    ])
    assert isinstance(sched, C.SequentialLR) and sched.milestones == [5, 15]
    for t in (0, 4, 5, 10, 14, 15, 21):
        expected = 0.1 if t < 5 else 0.1 * (1 - (t - 5) / 10) if t < 15 else 0.01 * 0.5 ** ((t - 15) / 3)
        assert close(sched.lr_at(t)[0], expected), t


def test_list_chained() -> None:
    opt = make_opt()
    sched = configure_lr_scheduler(opt, [
        {"scheduler": "CosineDecay", "initial_learning_rate": 0.1, "end_learning_rate": 0.0, "total_iters": 20,
         "main_scheduler": "chained"},
        {"scheduler": "Step", "initial_learning_rate": 1.0, "step_size": 5, "gamma": 0.5, "main_scheduler": "Chained"},
    ])
    assert isinstance(sched, C.ChainedScheduler)
    for t in (0, 4, 5, 13, 20, 30):
        expected = 0.05 * (1 + math.cos(math.pi * min(t, 20) / 20)) * 0.5 ** (t // 5)
        assert close(sched.lr_at(t)[0], expected), t


def test_nested_sequential_dict_and_single_item_list() -> None:
    opt = make_opt()
    sched = configure_lr_scheduler(opt, {
        "scheduler": "SequentialLR", "milestones": [3],
        "schedulers": [{"scheduler": "Constant", "learning_rate": 0.2}, {"scheduler": "Constant", "learning_rate": 0.1}],
    })
    assert [sched.lr_at(t)[0] for t in (0, 2, 3, 9)] == [0.2, 0.2, 0.1, 0.1]
    single = configure_lr_scheduler(opt, [{"scheduler": "Constant", "learning_rate": 0.4}])
    assert type(single) is C.ConstantLR


def test_adjust_learning_rate_wraps_in_scale_per_param() -> None:
    opt = make_opt(groups=2)
    sched = configure_lr_scheduler(opt, 0.1, adjust_learning_rate=[1.0, 0.5])
    assert isinstance(sched, C.ScalePerParamLR)
    assert [close(a, b) for a, b in zip(sched.lr_at(0), (0.1, 0.05))] == [True, True]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.05]

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    named = list(model.named_parameters())
    groups = [{"params": [p for _, p in named[:2]], "param_names": [n for n, _ in named[:2]]},
              {"params": [p for _, p in named[2:]], "param_names": [n for n, _ in named[2:]]}]
    opt2 = torch.optim.AdamW(groups, lr=1.0)
    sched2 = configure_lr_scheduler(opt2, {"scheduler": "Constant", "learning_rate": 0.2}, {"1.": 0.25})
    assert [close(a, b) for a, b in zip(sched2.lr_at(7), (0.2, 0.05))] == [True, True]

    mixed = torch.optim.AdamW([{"params": [p for _, p in named], "param_names": [n for n, _ in named]}], lr=1.0)
    with pytest.raises(ValueError, match="split them"):
        configure_lr_scheduler(mixed, 0.1, {"1.": 0.25})
    with pytest.raises(ValueError, match="2 param_groups"):
        configure_lr_scheduler(opt, 0.1, adjust_learning_rate=[1.0])


def test_weight_decay_schedule() -> None:
    opt = make_opt()
    assert configure_weight_decay_scheduler(opt, 0.01) is None
    assert configure_weight_decay_scheduler(opt, None) is None
    wd = configure_weight_decay_scheduler(opt, [
        {"scheduler": "Constant", "val": 0.0, "total_iters": 4},
        {"scheduler": "CosineDecayWD", "initial_val": 0.1, "end_val": 0.01, "total_iters": 10},
    ])
    assert type(wd) is C.SequentialWD
    assert opt.param_groups[0]["weight_decay"] == 0.0
    for t in (0, 3, 4, 9, 14, 40):
        expected = 0.0 if t < 4 else 0.01 + 0.09 / 2 * (1 + math.cos(math.pi * min(t - 4, 10) / 10))
        assert close(wd.values_at(t)[0], expected), t
    with pytest.raises(ValueError, match="unknown key"):
        configure_weight_decay_scheduler(opt, {"scheduler": "CosineDecay", "initial_learning_rate": 0.1,
                                               "end_val": 0.0, "total_iters": 3})


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"scheduler": "CosineDecay", "initial_learning_rate": 0.1, "end_learning_rate": 0.0, "total_iters": 5,
          "warmup": 3}, r"unknown key\(s\) 'warmup'.*valid keys: scheduler, initial_learning_rate, end_learning_rate, total_iters"),
        ({"scheduler": "Linear", "initial_learning_rate": 0.1, "end_learning_rate": 0.0, "decay_steps": 5},
         r"'decay_steps'.*total_iters"),
        ({"scheduler": "CosineDecy", "initial_learning_rate": 0.1}, r"unknown scheduler 'CosineDecy'.*cosinedecay"),
        ({"initial_learning_rate": 0.1}, r"missing the 'scheduler' key"),
        ({"scheduler": "CosineDecay", "initial_learning_rate": 0.1}, r"missing required key\(s\): end_learning_rate, total_iters"),
        ([{"scheduler": "Linear", "initial_learning_rate": 0.0, "end_learning_rate": 0.1},
          {"scheduler": "Constant", "learning_rate": 0.1}], r"learning_rate\[0\]: 'Linear' needs 'total_iters'"),
        ([{"scheduler": "Constant", "learning_rate": 0.1, "total_iters": 2, "main_scheduler": "parallel"},
          {"scheduler": "Constant", "learning_rate": 0.1}], r"main_scheduler must be 'sequential' or 'chained'"),
        ([{"scheduler": "Constant", "learning_rate": 0.1, "total_iters": 2},
          {"scheduler": "Constant", "learning_rate": 0.1, "speed": 1}], r"learning_rate\[1\]: ConstantLR got unknown key\(s\) 'speed'"),
        ({"scheduler": "SequentialLR", "milestones": [2], "schedulers": [{"scheduler": "Constant", "learning_rate": 0.1},
          {"scheduler": "Constant", "lr": 0.1}]}, r"learning_rate\.schedulers\[1\]: ConstantLR got unknown key\(s\) 'lr'"),
        ({"scheduler": "ScalePerParamLR"}, r"adjust_learning_rate"),
        ("fast", r"learning_rate must be a number"),
        ({"scheduler": "Constant", "learning_rate": "abc"}, r"learning_rate='abc' is not a number"),
    ],
)
def test_errors_name_the_bad_key(config, expected) -> None:
    with pytest.raises(ValueError, match=expected):
        configure_lr_scheduler(make_opt(), config)


def test_string_numbers_are_converted() -> None:
    opt = make_opt()
    sched = configure_lr_scheduler(opt, {"scheduler": "Linear", "initial_learning_rate": "1e-3",
                                         "end_learning_rate": "0", "total_iters": "10"})
    assert close(sched.lr_at(5)[0], 5e-4)
