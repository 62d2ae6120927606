"""Issue 14 item 6: config errors at the line of the key they are about, several mistakes in file
order, a misspelt key in a non-final scheduler of a list reported as unknown, ``initial_lr`` in
the groups of a Cerebras-style config, and the closed forms (``lr_at`` / ``momentum_at``) of
every Cerebras scheduler.

The CLI is run as a user runs it (a subprocess of ``python -m optimkit plot FILE``): exit status
2 and one line, ``optimkit plot: error: FILE:LINE: message``. The subprocesses start together in
one module fixture (each spends its time importing torch).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from optimkit import config
from optimkit.cerebras.optim import lr_scheduler as clrs
from optimkit.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent

# name -> (YAML text, the line the error is at, a piece of its message)
CASES: dict[str, tuple[str, int, str]] = {
    "negative_lr_torch": (
        "name: x\noptimizer:\n  name: AdamW\n  weight_decay: 0.01\n  lr: -0.1\n", 5, "Invalid learning rate: -0.1"),
    "bad_betas_torch": (
        "optimizer:\n  name: Adam\n  lr: 0.1\n  betas: [0.9, 1.5]\n", 4, "Invalid beta parameter at index 1: 1.5"),
    "negative_lr_cerebras": (
        "optimizer:\n  optimizer_type: AdamW\n  weight_decay: 0.01\n  learning_rate: -0.1\n", 4,
        "Invalid learning rate: -0.1"),
    "bad_betas_cerebras": (
        "optimizer:\n  optimizer_type: AdamW\n  learning_rate: 0.001\n  betas: [0.9, 1.5]\n", 4,
        "Invalid beta parameter at index 1: 1.5"),
    "nested_optim_params": (
        "optimizer:\n  optimizer_type: AdamW\n  optim_params:\n    eps: 1.0e-8\n    betas: [0.9, 1.5]\n", 5,
        "Invalid beta parameter at index 1: 1.5"),
    # torch checks lr before betas; the file has betas first.
    "two_mistakes": ("optimizer:\n  name: Adam\n  betas: [0.9, 1.5]\n  lr: -0.1\n", 3, "Invalid beta parameter"),
    "two_sections": (
        "scheduler:\n  name: StepLR\n  step_size: 0\noptimizer:\n  name: SGD\n  lr: -0.1\n", 3,
        "step_size must be > 0"),
    "typo_in_cerebras_list": (
        "optimizer:\n"
        "  optimizer_type: AdamW\n"
        "  learning_rate:\n"
        "    - scheduler: Linear\n"
        "      initial_learning_rate: 0.0\n"
        "      end_learning_rate: 0.001\n"
        "      total_itrs: 100\n"
        "    - scheduler: CosineDecay\n"
        "      initial_learning_rate: 0.001\n"
        "      end_learning_rate: 0.0\n"
        "      total_iters: 900\n",
        7, "unknown key(s) 'total_itrs'"),
    "typo_in_torch_list": (
        "optimizer: {name: AdamW, lr: 0.001}\n"
        "scheduler:\n"
        "  - name: LinearLR\n"
        "    start_factor: 0.01\n"
        "    stpes: 100\n"
        "  - {name: CosineAnnealingLR, T_max: 900}\n",
        5, "unknown key 'stpes' for LinearLR"),
}
CLI_CASES = ("negative_lr_torch", "bad_betas_cerebras", "two_mistakes", "typo_in_cerebras_list", "typo_in_torch_list")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("configs")
    out = {}
    for name, (text, _, _) in CASES.items():
        out[name] = folder / f"{name}.yaml"
        out[name].write_text(text)
    return out


@pytest.fixture(scope="module")
def cli(files: dict[str, Path]) -> dict[str, subprocess.CompletedProcess[str]]:
    def run(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "optimkit", "plot", str(files[name]), "--out", "plot.png"],
                              capture_output=True, text=True, env=_env(), cwd=files[name].parent, timeout=120)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(CLI_CASES, pool.map(run, CLI_CASES)))


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_prints_one_line_at_the_key(name: str, files: dict[str, Path],
                                       cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
    _, line, piece = CASES[name]
    done = cli[name]
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    prefix = f"optimkit plot: error: {files[name]}:{line}: "
    assert lines[0].startswith(prefix) and piece in lines[0], lines[0]


def _error(source: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.load(source, [torch.nn.Parameter(torch.zeros(2))])  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize("name", list(CASES))
def test_load_points_at_the_key(name: str, files: dict[str, Path]) -> None:
    _, line, piece = CASES[name]
    error = _error(files[name])
    assert (error.file, error.line) == (str(files[name]), line)
    assert piece in error.message
    assert "\n" not in str(error)


def test_the_exact_messages(files: dict[str, Path]) -> None:
    assert str(_error(files["negative_lr_torch"])) == f"{files['negative_lr_torch']}:5: Invalid learning rate: -0.1"
    assert _error(files["negative_lr_cerebras"]).path == ("optimizer", "learning_rate")
    assert _error(files["nested_optim_params"]).path == ("optimizer", "optim_params", "betas")
    typo = _error(files["typo_in_cerebras_list"])
    assert typo.path == ("optimizer", "learning_rate", 0, "total_itrs")
    assert "(did you mean 'total_iters'?)" in typo.message and "needs 'total_iters'" not in typo.message
    assert "(did you mean 'steps'?)" in _error(files["typo_in_torch_list"]).message


def test_the_other_mistakes_follow_in_file_order(files: dict[str, Path]) -> None:
    error = _error(files["two_mistakes"])
    assert [(e.line, e.path[-1]) for e in (error, *error.others)] == [(3, "betas"), (4, "lr")]
    assert "Invalid learning rate: -0.1" in error.others[0].message
    across = _error(files["two_sections"])
    assert [e.line for e in (across, *across.others)] == [3, 6]


def test_a_dict_reports_in_key_order() -> None:
    error = _error({"optimizer": {"name": "Adam", "weight_decay": -1.0, "lr": -0.1, "betas": [0.9, 1.5]}})
    assert [e.path[-1] for e in (error, *error.others)] == ["weight_decay", "lr", "betas"]
    assert error.file is None and error.line is None


def test_one_mistake_has_no_others(files: dict[str, Path]) -> None:
    assert _error(files["bad_betas_torch"]).others == ()


def test_a_missing_total_iters_is_still_reported() -> None:
    error = _error({"optimizer": {"optimizer_type": "AdamW", "learning_rate": [
        {"scheduler": "Constant", "learning_rate": 0.1},
        {"scheduler": "Constant", "learning_rate": 0.01}]}})
    assert "needs 'total_iters'" in error.message and error.path == ("optimizer", "learning_rate", 0)


def test_a_required_key_left_out_is_not_reported_as_missing() -> None:
    # Leaving out the bad T_max to look further would make it missing: only the real mistake.
    error = _error({"optimizer": {"name": "SGD", "lr": 0.1}, "scheduler": {"name": "CosineAnnealingLR", "T_max": 0}})
    assert error.path == ("scheduler", "T_max") and error.others == ()


# --------------------------------------------------------------------------------------------
# initial_lr
# --------------------------------------------------------------------------------------------


def test_initial_lr_of_a_cerebras_schedule_is_its_start() -> None:
    opt, _ = config.load(ROOT / "examples" / "lamb_cosine_decay.yaml", [torch.nn.Parameter(torch.zeros(2))])
    group = opt.param_groups[0]
    assert group["initial_lr"] == 0.0 == group["lr"]  # initial_learning_rate of the warmup
    assert group["initial_weight_decay"] == 0.01 == group["weight_decay"]


def test_initial_lr_of_a_constant_and_of_torch_style() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt, _ = config.load({"optimizer": {"optimizer_type": "AdamW", "learning_rate": 0.02}}, params)
    assert opt.param_groups[0]["initial_lr"] == 0.02
    opt, _ = config.load({"optimizer": {"name": "SGD", "lr": 0.1},
                          "scheduler": {"name": "StepLR", "step_size": 2}}, params)
    assert opt.param_groups[0]["initial_lr"] == 0.1  # torch's own setdefault
    opt, sched = config.load({"optimizer": {"name": "SGD", "lr": 0.1}}, params)
    assert sched is None and "initial_lr" not in opt.param_groups[0]


def test_initial_lr_with_adjust_learning_rate() -> None:
    p, q = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt, _ = config.load({"optimizer": {"optimizer_type": "SGD", "adjust_learning_rate": [1.0, 0.5], "learning_rate": {
        "scheduler": "Linear", "initial_learning_rate": 0.2, "end_learning_rate": 0.0, "total_iters": 10}}},
        [{"params": [p]}, {"params": [q]}])
    assert [g["initial_lr"] for g in opt.param_groups] == [0.2, 0.1]


# --------------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------------


def _opt() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)


def test_cerebras_sequential_and_chained_compose_their_children() -> None:
    opt = _opt()
    seq = clrs.SequentialLR(opt, [clrs.LinearLR(opt, 0.0, 1.0, total_iters=4), clrs.ExponentialLR(opt, 1.0, 2, 0.5)],
                            milestones=[4])
    assert [seq.lr_at(t)[0] for t in (0, 2, 4, 6, 8)] == [0.0, 0.5, 1.0, 0.5, 0.25]
    assert [seq.momentum_at(t) for t in (0, 5)] == [None, None]
    chain = clrs.ChainedScheduler([clrs.ConstantLR(opt, 0.1), clrs.StepLR(opt, 2.0, step_size=2, gamma=0.5)])
    assert [chain.lr_at(t)[0] for t in range(4)] == [0.1, 0.1, 0.05, 0.05]
    assert chain.momentum_at(3) is None


def test_every_cerebras_scheduler_answers_momentum_at() -> None:
    opt = _opt()
    made = [clrs.ConstantLR(opt, 0.1), clrs.CosineDecayLR(opt, 1.0, 0.0, 10), clrs.CyclicLR(opt, 0.0, 1.0, 2),
            clrs.OneCycleLR(opt, 0.1, max_lr=1.0, total_steps=10), clrs.LinearWD(opt, 0.1, 0.0, 10)]
    made.append(clrs.ScalePerParamLR(opt, made[0]))
    for sched in made:
        assert sched.momentum_at(5) is None, type(sched).__name__
        assert len(sched.lr_at(5)) == 1
    assert opt.param_groups[0]["momentum"] == 0.9  # untouched


def test_combined_scheduler_answers_for_the_child_that_cycles_momentum() -> None:
    from optimkit.optim.lr_scheduler import OneCycleLR

    opt = _opt()
    cycle = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    both = clrs.CombinedScheduler([cycle, clrs.LinearWD(opt, 0.1, 0.0, 10)])
    assert both.momentum_at(3) == cycle.momentum_at(3) and both.momentum_at(3) is not None
    assert both.lr_at(3) == cycle.lr_at(3)
    opt = _opt()
    plain = clrs.CombinedScheduler([clrs.CosineDecayLR(opt, 1.0, 0.0, 10), clrs.LinearWD(opt, 0.1, 0.0, 10)])
    assert plain.momentum_at(3) is None


def test_the_readme_closed_forms_on_every_example() -> None:
    # README: sched.lr_at(100), sched.momentum_at(100) on what config.load returns.
    for name in ("sgd_onecycle", "lamb_cosine_decay"):
        _, sched = config.load_scheduler_only(ROOT / "examples" / f"{name}.yaml")
        assert len(sched.lr_at(100)) == 1
        momenta = sched.momentum_at(100)
        assert (momenta is not None) == (name == "sgd_onecycle")
