"""The wheel works on its own: built from this checkout, installed into a fresh virtual
environment, and run from a folder outside the source tree (issue 14: the demo used to need a
source checkout, because its example configs were not in the wheel).

The environment reuses the installed torch and the other dependencies (``--system-site-packages``,
plus the running interpreter's own site-packages when it is itself a virtual environment, whose
packages ``--system-site-packages`` would not see); the wheel is installed with ``--no-deps
--no-index``, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _check(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 180) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """``(the venv's bin folder, an environment to run it in)`` with the freshly built wheel installed."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools (the build backend)")
    base = tmp_path_factory.mktemp("wheel")
    # Build from a copy: an in-tree build would leave build/ and egg-info in the checkout, and
    # copying only what the project declares also proves nothing else is needed.
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "optimkit", source / "optimkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = base / "dist"
    _check([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
            "-w", str(dist), str(source)], base, dict(os.environ))
    wheels = list(dist.glob("optimkit-*.whl"))
    assert len(wheels) == 1, wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert {f"optimkit/examples/{p.name}" for p in (ROOT / "optimkit" / "examples").glob("*.yaml")} <= set(names)

    venv = base / "venv"
    _check([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], base, dict(os.environ))
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(_check([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          base, dict(os.environ)).strip())
    if sys.prefix != sys.base_prefix:
        # Tests running in a virtual environment: its packages (torch, pip) are not the "system"
        # ones. A .pth line adds the folders to the path without running their .pth files, so
        # an editable install of optimkit there stays out of the new environment.
        outer = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
        (purelib / "_outer_environment.pth").write_text("\n".join(dict.fromkeys(outer)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    env["PYTHONNOUSERSITE"] = "1"
    _check([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheels[0])], base, env)
    return bin_dir, env


def test_the_installed_wheel_is_the_optimkit_that_runs(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    location = _check([str(bin_dir / "python"), "-c", "import optimkit; print(optimkit.__file__)"], tmp_path, env).strip()
    assert Path(location).is_relative_to(bin_dir.parent), location
    assert not Path(location).is_relative_to(ROOT), location
    version = _check([str(bin_dir / "optimkit"), "--version"], tmp_path, env)
    assert version.startswith("optimkit ") and str(bin_dir.parent) in version, version


def test_the_commands_work_outside_the_source_tree(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bin_dir, env = installed
    optimkit = str(bin_dir / "optimkit")
    listing = _check([optimkit, "list"], tmp_path, env)
    assert listing.splitlines()[:2] == ["optimizers (optimkit.optim)", listing.splitlines()[1]]
    assert listing.splitlines()[1].split()[:2] == ["name", "class"]
    assert "adamw" in listing.split() and "schedulers (optimkit.optim)" in listing.splitlines()
    plotted = _check([optimkit, "plot", "steplr", "step_size=10", "--out", "x.png"], tmp_path, env)
    assert plotted.splitlines()[-1] == "wrote x.png" and (tmp_path / "x.png").stat().st_size > 1000
    # The demo finds its example configs inside the installed package.
    demo = _check([optimkit, "demo", "--quick", "--no-progress"], tmp_path, env)
    shipped = len(list((ROOT / "optimkit" / "examples").glob("*.yaml")))
    assert demo.startswith(f"optimkit demo: {shipped} configurations"), demo
    assert "wrote optimkit-demo/demo.png" in demo.splitlines()
    assert (tmp_path / "optimkit-demo" / "demo.png").is_file()
