"""The README's "Use with ..." and "Beyond torch.optim" examples run as written: each Python block of
those sections is saved to a file and run by a fresh interpreter in an empty folder (the way a
reader pastes it), and must exit cleanly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("## Use with", "## Beyond torch.optim")


def _examples() -> dict[str, str]:
    """The Python blocks of the README's sections above, by the heading above each."""
    text = (ROOT / "README.md").read_text()
    examples: dict[str, str] = {}
    for title in SECTIONS:
        start = text.index(title)
        end = text.find("\n## ", start + len(title))
        section = text[start:end if end != -1 else None]
        heading = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        for block in re.finditer(r"^### ([^\n]+)$|^```python\n(.*?)^```", section, re.M | re.S):
            if block.group(1):
                heading = re.sub(r"[^a-z0-9]+", "-", block.group(1).lower()).strip("-")
            else:
                key = heading if heading not in examples else f"{heading}-{len(examples)}"
                examples[key] = block.group(2)
    return examples


def test_the_sections_have_examples() -> None:
    assert len(_examples()) >= 9


@pytest.mark.parametrize("name", list(_examples()))
def test_readme_example_runs(name: str, tmp_path: Path) -> None:
    script = tmp_path / "readme_example.py"  # not the example's name: lightning.py would shadow the package
    script.write_text(_examples()[name])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
