from __future__ import annotations

import math
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from optimkit.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimkit", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _check_png(path: Path, min_width: int = 300, min_height: int = 200) -> tuple[int, int]:
    """The file is a PNG (signature and IHDR), decodes, has a sensible size and is not blank."""
    import matplotlib.image as mpimg

    assert path.is_file(), f"{path} was not written"
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    assert min_width <= width <= 4000 and min_height <= height <= 4000, (width, height)
    pixels = mpimg.imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05, "the image is blank"
    return width, height


def _table_rows(text: str, header_start: str) -> list[list[str]]:
    """The rows of the aligned table whose header line starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(header_start))
    assert set(lines[start + 1].replace(" ", "")) == {"-"}
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


# --------------------------------------------------------------------------------------------
# list / show
# --------------------------------------------------------------------------------------------


def test_list_prints_the_registry() -> None:
    result = _run("list", "adam*")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["name", "class"]
    assert [line.split()[0] for line in lines[2:]] == ["adam", "adamax", "adamw"]


def test_list_unknown_pattern_fails_cleanly() -> None:
    result = _run("list", "optimizers", "zzz*")
    assert result.returncode == 2  # as every other mistake in the input
    assert result.stderr == "optimkit list: error: no optimizer matches 'zzz*' in --namespace optim (see: optimkit list)\n"
    assert result.stdout == ""


# Regenerates README.md's optimizer table in a fresh interpreter (so that optimizers other tests
# register cannot leak into it) from *this checkout's* optimkit, put first on sys.path: whether or
# where optimkit is installed plays no part. Prints the unified diff against the README, if any.
_README_DIFF = """
import difflib, pathlib, sys
root = pathlib.Path(sys.argv[1])
sys.path[:0] = [str(root), str(root / "scripts")]
import optimkit
assert pathlib.Path(optimkit.__file__).resolve().parent == root / "optimkit", optimkit.__file__
from update_docs import README, render
current = README.read_text()
sys.stdout.writelines(difflib.unified_diff(
    current.splitlines(True), render(current).splitlines(True), "README.md", "README.md (regenerated)"))
"""
_NOT_INSTALLED = "optimkit is not installed: run bash scripts/test.sh (it installs optimkit and its dependencies)"


def _readme_diff() -> str:
    """The diff between README.md and the README with a freshly generated optimizer table."""
    result = subprocess.run([sys.executable, "-c", _README_DIFF, str(ROOT)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        if "ModuleNotFoundError" in result.stderr or "ImportError" in result.stderr:
            pytest.fail(f"{_NOT_INSTALLED}; regenerating the README table failed with {last}", pytrace=False)
        pytest.fail(f"regenerating the README table crashed, so whether README.md is current is unknown:\n"
                    f"{result.stderr}", pytrace=False)
    return result.stdout


def test_readme_optimizer_table_is_current() -> None:
    diff = _readme_diff()
    if diff:
        pytest.fail(f"README.md is stale: run python scripts/update_docs.py\n{diff}", pytrace=False)


def test_readme_check_detects_a_stale_table() -> None:
    """The check above can fail: a README whose table lost a row is regenerated with it."""
    from tests._harness import load_script

    update_docs = load_script("scripts/update_docs.py")
    current = (ROOT / "README.md").read_text()
    start, end = current.index(update_docs.START), current.index(update_docs.END)
    table = current[start:end].splitlines(True)
    row = next(line for line in table if line.startswith("| ") and "adamw" in line.lower())
    stale = current[:start] + "".join(line for line in table if line != row) + current[end:]
    assert stale != current
    assert row in update_docs.render(stale)


def test_console_script_is_installed_and_runs() -> None:
    """``optimkit`` as the README uses it: the console script that scripts/test.sh installs."""
    import importlib.metadata
    import shutil

    try:
        dist = importlib.metadata.distribution("optimkit")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{_NOT_INSTALLED} (no package metadata for optimkit)", pytrace=False)
    scripts = [ep for ep in dist.entry_points if ep.group == "console_scripts" and ep.name == "optimkit"]
    assert [ep.value for ep in scripts] == ["optimkit.cli:main"], (
        f"optimkit {dist.version} is installed without its console script: run bash scripts/test.sh")
    executable = shutil.which("optimkit")
    if executable is None:
        pytest.fail(f"{_NOT_INSTALLED} (no optimkit console script on PATH)", pytrace=False)
    installed = subprocess.run([executable, "list", "adam*"], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    here = _run("list", "adam*")
    assert here.returncode == 0, here.stderr
    assert installed.stdout == here.stdout, (
        f"the optimkit console script ({executable}) runs another copy of optimkit than this checkout's: "
        "run bash scripts/test.sh")


def test_list_schedulers_in_both_namespaces(capsys: pytest.CaptureFixture[str]) -> None:
    from optimkit.registry import list_schedulers

    assert main(["list", "schedulers", "cos*", "--namespace", "all"]) == 0
    out = capsys.readouterr().out
    torch_part, cerebras_part = out.split("\n\n")
    assert [r[0] for r in _table_rows(torch_part, "name")] == list_schedulers("cos*")
    assert [r[0] for r in _table_rows(cerebras_part, "name")] == list_schedulers("cos*", namespace="cerebras")
    assert main(["list", "schedulers"]) == 0
    assert [r[0] for r in _table_rows(capsys.readouterr().out, "name")] == list_schedulers()


def test_show_prints_signature_defaults_and_capabilities() -> None:
    import inspect

    from optimkit.optim import AdamW

    result = _run("show", "AdamW")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "adamw: optimizer optimkit.optim.AdamW (same as torch.optim.AdamW)"
    assert "AdamW(params, lr=0.001, betas=(0.9, 0.999)" in out
    for name, param in inspect.signature(AdamW).parameters.items():
        if param.default is not param.empty:
            assert re.search(rf"^  {name} +=  ?{re.escape(repr(param.default))}$", out, re.M), name
    assert "capabilities: betas, foreach, fused, differentiable, complex" in out
    assert "Decoupled Weight Decay" in out  # the docstring's first paragraph


def test_show_scheduler_and_cerebras_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "onecycle"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("onecyclelr: scheduler optimkit.optim.lr_scheduler.OneCycleLR")
    assert "required: max_lr" in out and "momentum_at" in out
    assert main(["show", "CosineDecay"]) == 0
    assert capsys.readouterr().out.startswith("cerebras:cosinedecaylr: scheduler")


def test_show_unknown_name_suggests_close_matches() -> None:
    result = _run("show", "adamww")
    assert result.returncode == 2
    assert "did you mean adamw" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------


def test_plot_named_scheduler_matches_torch(tmp_path: Path) -> None:
    import torch

    out = tmp_path / "onecycle.png"
    result = _run("plot", "onecycle", "max_lr=0.1", "total_steps=1000", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OneCycleLR(max_lr=0.1, total_steps=1000): 1000 steps, closed form")
    rows = _table_rows(result.stdout, "step")
    assert len(rows) == 11 and rows[0][0] == "0" and rows[-1][0] == "999"
    # The oracle: torch's own OneCycleLR, stepped, on torch's SGD.
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)
    expected = {}
    for step in range(1000):
        expected[step] = (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"])
        opt.step()
        if step < 999:
            sched.step()
    for step, lr, momentum in rows:
        assert math.isclose(float(lr), expected[int(step)][0], rel_tol=1e-5), step
        assert math.isclose(float(momentum), expected[int(step)][1], rel_tol=1e-5), step
    _check_png(out)


def test_plot_config_with_a_weight_decay_schedule(tmp_path: Path) -> None:
    out = tmp_path / "lamb.png"
    result = _run("plot", str(ROOT / "examples" / "lamb_cosine_decay.yaml"), "--steps", "460", "--out", str(out))
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.strip().startswith("step"))
    assert header.split() == ["step", "lr", "weight_decay"]
    rows = _table_rows(result.stdout, "step")
    assert float(rows[0][1]) == 0.0 and float(rows[0][2]) == pytest.approx(0.01)  # warmup from 0; wd starts high
    assert float(rows[-1][2]) < 1e-4
    _check_png(out, min_height=300)


def test_plot_closed_forms_equal_stepping() -> None:
    # What ``optimkit plot`` reads from lr_at/momentum_at/values_at equals stepping the scheduler.
    import torch

    from optimkit import config, schedule_plot

    for path in EXAMPLES:
        def factory(p: Path = path) -> tuple:
            return config.load(p, [torch.nn.Parameter(torch.zeros(1))])

        closed = schedule_plot.curves(factory, 460)
        stepped, _ = schedule_plot._simulate(factory, 460)
        assert closed.closed_form == set(closed.series)
        assert set(closed.series) == set(stepped) | {"lr"}
        for key, values in stepped.items():
            assert closed.series[key] == pytest.approx(values, rel=1e-12, abs=1e-15), (path.name, key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plot", "onecycle", "total_steps=100"], "OneCycleLR needs max_lr"),
        (["plot", "onecycle", "max_lr=0.1", "total_step=100"], "did you mean 'total_steps'"),
        (["plot", "onecylce"], "did you mean onecycle"),
        (["plot", "onecycle", "max_lr"], "expected key=value"),
        (["plot", "onecycle", "max_lr=0.1", "total_steps=0"], "total_steps"),
        (["plot", "reducelronplateau"], "no schedule to plot"),
        (["plot", "missing.yaml"], "missing.yaml: no such config file"),
    ],
)
def test_plot_errors_are_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("optimkit plot: error:")


# --------------------------------------------------------------------------------------------
# Config mistakes, through the demo, plot and lr-find
# --------------------------------------------------------------------------------------------


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimizer:\n  name: SGD\n  lr: [0.1\nscheduler: {}\n")
    result = _run("demo", "--config", str(bad), "--no-progress")
    assert result.returncode == 2
    assert re.search(rf"{re.escape(str(bad))}:\d+:\d+: invalid YAML", result.stderr), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("optimizer: {name: AdamWW, lr: 0.1}\n", "did you mean adamw"),
        ("optimizer: {name: SGD}\nscheduler: {name: StepLR}\n", "step_size"),
        ("optimizer: {name: SGD, lr: 0.1}\ntrain: {epoch: 3}\n", "did you mean 'epochs'"),
        ("optimizer: {name: SGD, lr: 0.1}\nschedule: {name: StepLR}\n", "unknown top-level key 'schedule'"),
    ],
)
def test_config_mistakes_are_one_line(tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    for command in (["demo", "--config", str(path), "--no-progress"], ["plot", str(path)], ["lr-find", str(path)]):
        if command[0] != "demo" and "train" in text:
            continue
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert message in err and str(path) in err and err.count("\n") == 1, (command, err)


def test_schedule_shorter_than_training_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "short.yaml"
    path.write_text("optimizer: {name: SGD, lr: 0.1, momentum: 0.9}\n"
                    "scheduler: {name: OneCycleLR, max_lr: 0.1, total_steps: 30}\ntrain: {epochs: 2}\n")
    assert main(["demo", "--config", str(path), "--no-progress", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "2 epochs x 23 steps = 46 steps" in err and err.count("\n") == 1


# --------------------------------------------------------------------------------------------
# demo and lr-find
# --------------------------------------------------------------------------------------------


def test_demo_runs_every_example(tmp_path: Path) -> None:
    import yaml

    result = _run("demo", "--quick", "--no-progress", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    rows = _table_rows(result.stdout, "config")
    names = [yaml.safe_load(p.read_text())["name"] for p in EXAMPLES]
    assert [r[0] for r in rows] == names and len(rows) >= 3
    for row in rows:
        loss, accuracy, seconds = float(row[3]), float(row[4].rstrip("%")), float(row[-1] if row[-1] != "*" else row[-2])
        assert 0 < loss < 3 and 10 <= accuracy <= 100 and seconds >= 0
    assert sum("*" in r for r in rows) >= 1
    assert "Traceback" not in result.stderr
    width, height = _check_png(tmp_path / "out" / "demo.png", min_width=800)
    assert width > height  # loss and lr side by side


def test_demo_with_own_config_reaches_the_accuracy(tmp_path: Path) -> None:
    # The full 20-epoch SGD + OneCycleLR example: the demo's accuracy claim.
    config = str(ROOT / "examples" / "sgd_onecycle.yaml")
    result = _run("demo", "--config", config, "--no-progress", "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    rows = _table_rows(result.stdout, "config")
    assert len(rows) == 1 and rows[0][0] == "sgd-onecycle"
    assert float(rows[0][4].rstrip("%")) >= 95.0
    _check_png(tmp_path / "a" / "demo.png", min_width=800)


def test_demo_training_is_deterministic() -> None:
    from optimkit import config, demo

    data = demo.load_data(seed=0)
    settings = demo.TrainSettings(epochs=2, batch_size=64, seed=0)
    runs = [demo.train("x", lambda params: config.load(EXAMPLES[0], params), data, settings, progress=False)
            for _ in range(2)]
    assert runs[0].losses == runs[1].losses and runs[0].lrs == runs[1].lrs
    assert runs[0].test_accuracy == runs[1].test_accuracy
    other = demo.train("x", lambda params: config.load(EXAMPLES[0], params), data,
                       demo.TrainSettings(epochs=2, batch_size=64, seed=1), progress=False)
    assert other.losses != runs[0].losses  # the seed does matter


def test_digits_train_size_constant() -> None:
    from optimkit import demo

    assert len(demo.load_data().x_train) == demo.DIGITS_TRAIN_SIZE


def test_lr_find_writes_the_plot_with_a_suggestion(tmp_path: Path) -> None:
    out = tmp_path / "lr.png"
    result = _run("lr-find", str(ROOT / "examples" / "sgd_onecycle.yaml"), "--num-iter", "40", "--out", str(out))
    assert result.returncode == 0, result.stderr
    match = re.search(r"^suggested lr \(valley\): ([0-9.e+-]+)$", result.stdout, re.M)
    assert match is not None, result.stdout
    assert 1e-7 <= float(match.group(1)) <= 10
    listed = re.findall(r"^  (valley|steepest descent|minimum / 10) +([0-9.e+-]+)", result.stdout, re.M)
    assert [name for name, _ in listed] == ["valley", "steepest descent", "minimum / 10"], result.stdout
    assert "<- used" in next(line for line in result.stdout.splitlines() if line.startswith("  valley"))
    _check_png(out)
