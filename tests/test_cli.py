from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimkit", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_list_prints_the_registry() -> None:
    result = _run("list", "adam*")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["name", "class"]
    assert [line.split()[0] for line in lines[2:]] == ["adam", "adamw"]


def test_list_unknown_pattern_fails_cleanly() -> None:
    result = _run("list", "optimizers", "zzz*")
    assert result.returncode == 1
    assert "no optimizer matches" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_optimizer_table_is_current() -> None:
    result = subprocess.run([sys.executable, "scripts/update_docs.py", "--check"], cwd=ROOT, timeout=120)
    assert result.returncode == 0, "README.md is stale: run python scripts/update_docs.py"
