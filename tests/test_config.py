"""optimkit.config: YAML files and dicts in both styles -> (optimizer, scheduler)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import optimkit.cerebras.optim.lr_scheduler as C
import optimkit.optim as O
from optimkit import config
from optimkit.config import ConfigError, load

CEREBRAS_YAML = """\
name: warmup-cosine
description: the issue's example
train: {epochs: 3}
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

TORCH_YAML = """\
optimizer: {name: SGD, lr: 0.1, momentum: 0.9}
scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 1000}
"""


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cerebras_style_file(tmp_path: Path) -> None:
    opt, sched = load(write(tmp_path, CEREBRAS_YAML), model().parameters())
    assert type(opt).__module__.startswith("optimkit.cerebras") and type(opt).__name__ == "AdamW"
    assert opt.defaults["eps"] == 1e-6 and opt.param_groups[0]["weight_decay"] == 0.01
    assert isinstance(sched, C.SequentialLR)
    assert sched.lr_at(0) == [0.0] and close(sched.lr_at(1000)[0], 1e-4) and close(sched.lr_at(10000)[0], 1e-6)
    t = 4000
    assert close(sched.lr_at(t)[0], 1e-6 + (1e-4 - 1e-6) / 2 * (1 + math.cos(math.pi * (t - 1000) / 9000)))
    assert opt.param_groups[0]["lr"] == 0.0


def test_torch_style_file_matches_torch(tmp_path: Path) -> None:
    m = model()
    opt, sched = load(write(tmp_path, TORCH_YAML), m.parameters())
    assert type(opt) is O.SGD and opt.defaults["momentum"] == 0.9
    assert type(sched) is O.lr_scheduler.OneCycleLR
    w = torch.nn.Parameter(torch.zeros(1))
    ref_opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.1, total_steps=1000)
    assert opt.param_groups[0]["momentum"] == ref_opt.param_groups[0]["momentum"] == 0.95  # cycled momentum
    for _ in range(50):
        opt.step()
        sched.step()
        ref_opt.step()
        ref.step()
        assert sched.get_last_lr() == ref.get_last_lr()
        assert opt.param_groups[0]["momentum"] == ref_opt.param_groups[0]["momentum"]


def test_dict_source_and_lists_converted() -> None:
    opt, sched = load({"optimizer": {"name": "adam", "lr": "1e-3", "betas": [0.8, 0.9]}}, model().parameters())
    assert type(opt) is O.Adam and sched is None
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["betas"] == (0.8, 0.9)


def test_torch_style_sequences() -> None:
    cfg = {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "scheduler": [
            {"name": "LinearLR", "start_factor": 0.5, "total_iters": 2, "steps": 2},
            {"name": "ExponentialLR", "gamma": 0.5},
        ],
    }
    _, sched = load(cfg, model().parameters())
    assert type(sched) is O.lr_scheduler.SequentialLR
    assert [sched.lr_at(t)[0] for t in range(5)] == [0.5, 0.75, 1.0, 0.5, 0.25]
    explicit = {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "scheduler": {"name": "SequentialLR", "milestones": [2], "schedulers": [
            {"name": "LinearLR", "start_factor": 0.5, "total_iters": 2}, {"name": "ExponentialLR", "gamma": 0.5}]},
    }
    _, sched2 = load(explicit, model().parameters())
    assert [sched2.lr_at(t)[0] for t in range(5)] == [0.5, 0.75, 1.0, 0.5, 0.25]
    chained = {
        "optimizer": {"name": "SGD", "lr": 1.0},
        "scheduler": {"name": "ChainedScheduler", "schedulers": [{"name": "ConstantLR", "factor": 0.5, "total_iters": 2},
                                                                 {"name": "ExponentialLR", "gamma": 0.5}]},
    }
    _, sched3 = load(chained, model().parameters())
    assert [sched3.lr_at(t)[0] for t in range(4)] == [0.5, 0.25, 0.25, 0.125]


def test_weight_decay_schedule_gives_one_combined_scheduler() -> None:
    cfg = {
        "optimizer": {
            "optimizer_type": "SGD",
            "momentum": 0.9,
            "learning_rate": {"scheduler": "CosineDecay", "initial_learning_rate": 0.1, "end_learning_rate": 0.0,
                              "total_iters": 10},
            "weight_decay": {"scheduler": "LinearWD", "initial_val": 0.1, "end_val": 0.0, "total_iters": 10},
        }
    }
    opt, sched = load(cfg, model().parameters())
    assert isinstance(sched, C.CombinedScheduler)
    assert opt.param_groups[0]["weight_decay"] == 0.1
    for _ in range(4):
        opt.step()
        sched.step()
    assert close(opt.param_groups[0]["lr"], 0.05 * (1 + math.cos(math.pi * 4 / 10)))
    assert close(opt.param_groups[0]["weight_decay"], 0.1 * (1 - 4 / 10))
    curves = config.schedule_curves(cfg, steps=11)
    assert set(curves) == {"lr", "weight_decay"} and len(curves["lr"]) == 11
    assert all(close(curves["weight_decay"][t], 0.1 * (1 - t / 10)) for t in range(11))


def test_adjust_learning_rate_in_config() -> None:
    cfg = {"optimizer": {"optimizer_type": "Adam", "learning_rate": 0.1, "adjust_learning_rate": 0.5}}
    opt, sched = load(cfg, model().parameters())
    assert isinstance(sched, C.ScalePerParamLR) and opt.param_groups[0]["lr"] == 0.05


def test_schedule_curves_for_plots() -> None:
    curves = config.schedule_curves({"optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9},
                                     "scheduler": {"name": "OneCycleLR", "max_lr": 0.1, "total_steps": 20}}, steps=30)
    assert set(curves) == {"lr", "momentum"}
    assert len(curves["lr"]) == 21  # torch's OneCycleLR cannot step past total_steps
    w = torch.nn.Parameter(torch.zeros(1))
    ref_opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.1, total_steps=20)
    expected = []
    for _ in range(20):
        expected.append(ref_opt.param_groups[0]["lr"])
        ref_opt.step()
        ref.step()
    assert curves["lr"][:20] == expected
    constant = config.schedule_curves({"optimizer": {"name": "SGD", "lr": 0.1}}, steps=3)
    assert constant == {"lr": [0.1, 0.1, 0.1]}
    opt, sched = config.load_scheduler_only({"optimizer": {"name": "SGD", "lr": 0.1}})
    assert sched is None and len(opt.param_groups[0]["params"]) == 1
    with pytest.raises(ValueError, match="steps"):
        config.schedule_curves({"optimizer": {"name": "SGD", "lr": 0.1}}, steps=0)


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def test_unknown_top_level_key_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, TORCH_YAML + "schedular: {}\n")
    with pytest.raises(ConfigError) as info:
        load(path, model().parameters())
    message = str(info.value)
    assert message.startswith(f"{path}:3: ") and "'schedular'" in message
    assert "valid keys: optimizer, scheduler, name, description, train" in message
    with pytest.raises(ValueError, match="unknown top-level key 'schedular'"):
        load({"optimizer": {"name": "SGD", "lr": 0.1}, "schedular": None}, model().parameters())


def test_reserved_keys_are_ignored() -> None:
    opt, _ = load({"name": "x", "description": "y", "train": {"epochs": 1}, "optimizer": {"name": "SGD", "lr": 0.1}},
                  model().parameters())
    assert type(opt) is O.SGD


# The line is that of the deepest key of the error's path found in the file: the bad key itself,
# the `name` that names no class, the list item, or the section when the key is missing.
@pytest.mark.parametrize(
    "text, line, pattern",
    [
        ("optimizer:\n  name: SGD\n  lr: 0.1\n  momentom: 0.9\n", 4, r"unknown key 'momentom' for SGD; valid keys: name, lr, momentum"),
        ("optimizer:\n  name: SDG\n  lr: 0.1\n", 2, r"unknown optimizer 'SDG'.*did you mean sgd"),
        ("optimizer:\n  name: SGD\n  lr: 0.1\nscheduler:\n  name: StepLR\n  gama: 0.5\n  step_size: 3\n", 6,
         r"scheduler: unknown key 'gama' for StepLR; valid keys: name, step_size, gamma"),
        ("optimizer:\n  name: SGD\n  lr: 0.1\nscheduler:\n  name: OneCycle\n", 5, r"unknown scheduler 'OneCycle'.*onecyclelr"),
        ("optimizer:\n  name: SGD\n  lr: 0.1\nscheduler: {name: StepLR}\n", 4, r"StepLR is missing required key\(s\): step_size"),
        ("optimizer:\n  optimizer_type: AdamW\n  learning_rate: 0.1\n  weight_decay_rate: 0.1\n", 4,
         r"legacy key 'weight_decay_rate'.*weight_decay"),
        ("optimizer:\n  optimizer_type: AdamW\n  learning_rate:\n    scheduler: CosineDecay\n    total_iter: 5\n", 5,
         r"learning_rate: CosineDecayLR got unknown key\(s\) 'total_iter'"),
        ("optimizer:\n  optimizer_type: AdamW\n  learning_rate: 0.1\nscheduler: {name: StepLR, step_size: 2}\n", 4,
         r"already schedules the learning rate"),
        ("optimizer:\n  lr: 0.1\n", 1, r"missing 'optimizer_type' \(Cerebras style\) or 'name' \(torch style\)"),
        ("optimizer:\n  name: SGD\n  lr: 0.1\nscheduler:\n  - {name: StepLR, step_size: 2}\n  - {name: StepLR, step_size: 3}\n",
         5, r"scheduler\[0\]: every scheduler but the last in a list needs 'steps: N'"),
    ],
)
def test_errors_name_the_key_file_and_line(tmp_path: Path, text: str, line: int, pattern: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=pattern) as info:
        load(path, model().parameters())
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "optimizer:\n  name: SGD\n  lr: [0.1\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+:\d+: invalid YAML"):
        load(path, model().parameters())
    with pytest.raises(ConfigError, match="no such config file"):
        load(tmp_path / "absent.yaml", model().parameters())
    with pytest.raises(ConfigError, match="must be a mapping"):
        load(write(tmp_path, "- 1\n- 2\n", "list.yaml"), model().parameters())


def test_safe_load_only(tmp_path: Path) -> None:
    path = write(tmp_path, "optimizer: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load(path, model().parameters())


def test_read_checks_top_level_keys() -> None:
    assert config.read({"optimizer": {"name": "SGD"}}) == {"optimizer": {"name": "SGD"}}
    with pytest.raises(ConfigError, match="'bogus'"):
        config.read({"bogus": 1})
