"""Issue 14, "a new user's first hour": every command of the issue, run as a user runs it (a
subprocess of ``python -m optimkit``), with its exact exit status and the one line it prints.

The commands are independent and each spends most of its time importing torch, so the module
starts them all at once (a few at a time) and the tests read their results.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import optimkit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "sgd_onecycle.yaml"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cwd: Path


def _env() -> dict[str, str]:
    # This checkout's optimkit first (the tests of the installed wheel are in test_packaging.py).
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(args: list[str], cwd: Path) -> Run:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "optimkit", *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=300)
    return Run(done.returncode, done.stdout, done.stderr, time.perf_counter() - started, cwd)


# name -> the command's arguments; "{tmp}" is the command's own empty working folder.
COMMANDS: dict[str, list[str]] = {
    # 1. output paths
    "bad-extension": ["plot", "steplr", "step_size=10", "--out", "x.jpgg"],
    "proc-file": ["plot", "steplr", "step_size=10", "--out", "/proc/x.png"],
    "demo-proc": ["demo", "--out", "/proc/foo", "--quick", "--no-progress"],
    "lr-find-txt": ["lr-find", str(EXAMPLE), "--out", "x.txt"],
    # 2. errors that blame the right argument
    "step-size-negative": ["plot", "steplr", "step_size=-1"],
    "step-size-zero": ["plot", "steplr", "step_size=0"],
    "max-lr-abc": ["plot", "onecycle", "max_lr=abc", "total_steps=1000"],
    # 3. the shipped examples, from a folder without any
    "example-fallback": ["plot", "examples/lamb_cosine_decay.yaml", "--steps", "50"],
    # 4. lr-find
    "lr-find-help": ["lr-find", "--help"],
    "lr-find-flat": ["lr-find", str(EXAMPLE), "--end-lr", "1e-6", "--num-iter", "60"],
    # 5. help and output
    "help": ["--help"],
    "version": ["--version"],
    "show-adamw": ["show", "adamw"],
    "show-cerebras-adamw": ["show", "cerebras:adamw"],
    "long-numbers": ["plot", "onecycle", "max_lr=0.123456", "total_steps=1000", "final_div_factor=3e4"],
    "folder": ["plot", "{tmp}"],
    "cos": ["plot", "cos"],
    "list-no-match": ["list", "optimizers", "zz*"],
    "default-folder": ["plot", "steplr", "step_size=10"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    folders = {}
    for name in COMMANDS:
        folders[name] = tmp_path_factory.mktemp(name)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_run, [a.replace("{tmp}", str(folders[name])) for a in args], folders[name])
                   for name, args in COMMANDS.items()}
        return {name: future.result() for name, future in futures.items()}


def _one_error_line(run: Run, command: str) -> str:
    """The single line on stderr of a command that failed on its input (exit status 2)."""
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert run.stderr.count("\n") == 1 and run.stderr.endswith("\n"), run.stderr
    assert "Traceback" not in run.stderr
    line = run.stderr.rstrip("\n")
    assert line.startswith(f"optimkit {command}: error: "), line
    return line


# --------------------------------------------------------------------------------------------
# 1. Output paths are checked first: one line, exit 2, nothing computed, nothing written
# --------------------------------------------------------------------------------------------


def test_unsupported_extension(runs: dict[str, Run]) -> None:
    line = _one_error_line(runs["bad-extension"], "plot")
    assert line.startswith("optimkit plot: error: --out x.jpgg: matplotlib cannot write .jpgg files; "
                           "use one of .png, .pdf, .svg, "), line
    assert ".jpg" in line and runs["bad-extension"].stdout == ""
    assert list(runs["bad-extension"].cwd.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_unwritable_folder(runs: dict[str, Run]) -> None:
    assert _one_error_line(runs["proc-file"], "plot") == (
        "optimkit plot: error: --out /proc/x.png: cannot write into /proc (No such file or directory)")
    assert _one_error_line(runs["demo-proc"], "demo") == (
        "optimkit demo: error: --out /proc/foo: cannot write into /proc (No such file or directory)")
    assert runs["demo-proc"].stdout == ""  # not a line of the demo's: nothing was trained


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["plot", "steplr", "step_size=10", "--out", "afile/x.png"],
         "optimkit plot: error: --out afile/x.png: afile is a file, not a folder"),
        (["demo", "--out", "afile", "--no-progress"], "optimkit demo: error: --out afile: is a file, not a folder"),
        (["lr-find", str(EXAMPLE), "--out", "plot"],
         "optimkit lr-find: error: --out plot: the file name has no extension; use one of .png, .pdf, .svg, "),
        (["lr-find", str(EXAMPLE), "--num-iter", "1"], "optimkit lr-find: error: --num-iter must be an integer >= 2, got 1"),
    ],
)
def test_more_output_and_argument_checks(args: list[str], expected: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from optimkit.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(expected) and captured.err.count("\n") == 1, captured.err
    assert captured.out == "" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_lr_find_checks_out_before_the_range_test(runs: dict[str, Run]) -> None:
    run = runs["lr-find-txt"]
    assert _one_error_line(run, "lr-find").startswith(
        "optimkit lr-find: error: --out x.txt: matplotlib cannot write .txt files; use one of .png, .pdf, .svg, ")
    assert run.stdout == ""  # no "lr range test:" line, no table: the sweep never ran


# --------------------------------------------------------------------------------------------
# 2. Errors name the argument at fault
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("step-size-negative", "optimkit plot: error: StepLR: step_size must be a positive integer, got -1"),
        ("step-size-zero", "optimkit plot: error: StepLR: step_size must be a positive integer, got 0"),
        ("max-lr-abc", "optimkit plot: error: OneCycleLR: max_lr='abc' is not a number"),
    ],
)
def test_the_argument_at_fault_is_named(runs: dict[str, Run], name: str, expected: str) -> None:
    assert _one_error_line(runs[name], "plot") == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cycliclr", "base_lr=0.01", "max_lr=0.1", "step_size_up=0"],
         "optimkit plot: error: CyclicLR: step_size_up must be a positive integer, got 0"),
        (["cycliclr", "base_lr=0.01", "max_lr=0.1", "step_size_up=0", "--steps", "10"],
         "optimkit plot: error: CyclicLR: step_size_up must be a positive integer, got 0"),
        (["cosineannealinglr", "T_max=0"], "optimkit plot: error: CosineAnnealingLR: T_max must be a positive integer, got 0"),
        (["constantlr", "total_iters=-2"],
         "optimkit plot: error: ConstantLR: total_iters must be a non-negative integer, got -2"),
        # torch's OneCycleLR does not check div_factor: the division by zero is reported with the call.
        (["onecycle", "max_lr=0.1", "total_steps=100", "div_factor=0"],
         "optimkit plot: error: OneCycleLR(max_lr=0.1, total_steps=100, div_factor=0): "),
    ],
)
def test_more_arguments_at_fault(args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    from optimkit.cli import main

    assert main(["plot", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1, err


# --------------------------------------------------------------------------------------------
# 3. The example configs ship with the package
# --------------------------------------------------------------------------------------------


def test_the_examples_path_of_the_readme_is_the_package_data() -> None:
    shipped = sorted(p.name for p in (ROOT / "optimkit" / "examples").glob("*.yaml"))
    assert shipped == ["adamw_gmp_sparse.yaml", "adamw_schedulefree.yaml", "adamw_warmup_cosine.yaml",
                       "lamb_cosine_decay.yaml", "sgd_onecycle.yaml"]
    for name in shipped:  # examples/ of the checkout is the same files (README's commands use it)
        assert (ROOT / "examples" / name).read_bytes() == (ROOT / "optimkit" / "examples" / name).read_bytes()


def test_examples_path_works_from_any_folder(runs: dict[str, Run]) -> None:
    # The demo itself, from a folder outside the source tree, is run by test_packaging.py.
    run = runs["example-fallback"]
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("lamb-cosine-decay: 50 steps, closed form")
    assert run.stdout.rstrip().endswith("wrote optimkit-plots/lamb_cosine_decay.png")
    assert (run.cwd / "optimkit-plots" / "lamb_cosine_decay.png").is_file()


def test_a_misspelled_example_names_the_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from optimkit.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["plot", "examples/sgd_onecyle.yaml"]) == 2
    assert capsys.readouterr().err == ("optimkit plot: error: examples/sgd_onecyle.yaml: no such config file; "
                                       "the shipped examples are examples/sgd_onecycle.yaml\n")


# --------------------------------------------------------------------------------------------
# 4. lr-find
# --------------------------------------------------------------------------------------------


def test_lr_find_help_shows_every_default(runs: dict[str, Run]) -> None:
    run = runs["lr-find-help"]
    assert run.returncode == 0
    text = " ".join(run.stdout.split())  # argparse wraps at the terminal's width
    for option, default in [("--start-lr", "1e-07"), ("--end-lr", "10.0"), ("--num-iter", "100"), ("--mode", "exp"),
                            ("--seed", "0"), ("--threads", "1"), ("--suggest", "valley")]:
        assert re.search(rf"{option} \S+ .*?\(default: {re.escape(default)}\)", text), option
    assert "--no-progress" in text


def test_lr_find_says_why_it_cannot_suggest(runs: dict[str, Run]) -> None:
    run = runs["lr-find-flat"]
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    reason = next(line for line in lines if line.startswith("no suggestion"))
    assert re.fullmatch(
        r"no suggestion: the loss did not move: from 2\.3\d* to at best 2\.3\d* \(0\.\d\d% lower\), within its "
        r"batch-to-batch noise \(±0\.0\d+\); the learning rates swept \(1e-07 to 1e-06\) are too small to train "
        r"with: raise --end-lr", reason), reason
    assert not any(line.startswith("suggested lr") for line in lines)
    assert lines[-1] == "wrote optimkit-plots/sgd_onecycle-lr-find.png"
    # The progress bar (on stderr, as the demo's) ran to the end of the sweep.
    assert "lr range test" in run.stderr and "60/60" in run.stderr


# --------------------------------------------------------------------------------------------
# 5. Help and output are plain text
# --------------------------------------------------------------------------------------------


def test_help_has_no_markup_and_a_version(runs: dict[str, Run]) -> None:
    run = runs["help"]
    assert run.returncode == 0
    assert "``" not in run.stdout and ":class:" not in run.stdout
    assert "The optimkit command line (also python -m optimkit)." in run.stdout.splitlines()
    assert "--version" in run.stdout
    version = runs["version"]
    assert version.returncode == 0 and version.stderr == ""
    assert version.stdout == (f"optimkit {optimkit.__version__} from {ROOT / 'optimkit'} "
                              f"(python {'.'.join(map(str, sys.version_info[:3]))})\n")


def test_show_prints_plain_text(runs: dict[str, Run]) -> None:
    run = runs["show-adamw"]
    assert run.returncode == 0, run.stderr
    for markup in ("``", ":class:", ":math:", "\\", ".. math::"):
        assert markup not in run.stdout, markup
    assert "as torch.optim.AdamW: the decoupled branch of Adam below" in " ".join(run.stdout.split())
    # The update rule, readable: Greek letters, subscripts, fractions and a square root.
    assert "    θₜ ← θₜ₋₁ − γ/(1 − β₁ᵗ) mₜ/(√(v̂ₜ / (1 − β₂ᵗ)) + ε)" in run.stdout.splitlines()


def test_show_cerebras_has_the_real_signature(runs: dict[str, Run]) -> None:
    run = runs["show-cerebras-adamw"]
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "cerebras:adamw: optimizer optimkit.cerebras.optim.AdamW"
    assert lines[1] == "AdamW with eps=1e-6 and an optional bias correction (Cerebras signature)."
    signature = lines[lines.index("signature:") + 1 : lines.index("defaults:") - 1]
    assert " ".join(" ".join(signature).split()) == (
        "AdamW(params, lr=0.001, betas=(0.9, 0.999), eps=1e-06, weight_decay=0.0, correct_bias=True, amsgrad=False)")
    assert "*args" not in run.stdout
    text = " ".join(run.stdout.split())
    assert "(the optimizer of the original BERT); see AdamBase for checkpoints." in text  # to its full stop
    assert "θₜ ← θₜ₋₁ − γ mₜ/(√v̂ₜ + ε)" in text  # the correct_bias=False update, readable


def test_every_show_has_a_real_signature_and_whole_sentences() -> None:
    from optimkit.cli import describe
    from optimkit.registry import optimizer_specs, scheduler_specs

    for namespace in ("optim", "cerebras"):
        for spec in [*optimizer_specs(namespace), *scheduler_specs(namespace)]:
            name = f"{namespace}:{spec.name}" if namespace == "cerebras" else spec.name
            text = describe(name)
            assert "(*args, **kwargs)" not in text, name
            assert "``" not in text and ":class:" not in text and ":math:" not in text, name
            assert text.splitlines()[1].endswith("."), name
            last = text.rstrip().splitlines()[-1]
            assert last.startswith("    ") or last.rstrip().endswith((".", ")", ":")), (name, last)


def test_plot_table_stays_aligned_with_long_numbers(runs: dict[str, Run]) -> None:
    run = runs["long-numbers"]
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = lines[1]
    assert header.split() == ["step", "lr", "momentum"]
    column = header.index("momentum")
    rows = lines[3:14]
    assert rows[-1].split()[:2] == ["999", "1.64608e-07"]  # 11 characters, wider than the old column
    for row in rows:
        assert row[column - 2 : column] == "  " and row[column] != " ", row


def test_a_folder_is_not_a_config(runs: dict[str, Run]) -> None:
    assert _one_error_line(runs["folder"], "plot") == (
        f"optimkit plot: error: {runs['folder'].cwd}: is a folder, not a config file (give a .yaml file in it)")


def test_a_prefix_gets_suggestions(runs: dict[str, Run]) -> None:
    assert _one_error_line(runs["cos"], "plot") == (
        "optimkit plot: error: unknown scheduler 'cos'; did you mean cosineannealinglr, cosineannealingwarmrestarts, "
        "cosineannealingwarmrestartswd, cosineannealingwd, cosinedecaylr? (see: optimkit list schedulers)")


def test_list_without_a_match_is_an_error(runs: dict[str, Run]) -> None:
    assert _one_error_line(runs["list-no-match"], "list") == (
        "optimkit list: error: no optimizer matches 'zz*' in --namespace optim (see: optimkit list)")
    assert runs["list-no-match"].stdout == ""


def test_plots_go_to_a_folder_of_their_own(runs: dict[str, Run]) -> None:
    run = runs["default-folder"]
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "wrote optimkit-plots/steplr.png"
    assert [p.name for p in run.cwd.iterdir()] == ["optimkit-plots"]
    assert (run.cwd / "optimkit-plots" / "steplr.png").is_file()
    assert "optimkit-plots/" in (ROOT / ".gitignore").read_text().splitlines()
