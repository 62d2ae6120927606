"""Regenerate the parts of README.md that come from the registry (run after adding an optimizer).

    python scripts/update_docs.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from optimkit.cli import optimizer_table

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- optimizers:start -->", "<!-- optimizers:end -->"


def render(text: str) -> str:
    block = f"{START}\n{optimizer_table(markdown=True)}\n{END}"
    return re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)


if __name__ == "__main__":
    current = README.read_text()
    updated = render(current)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if updated == current else 1)
    README.write_text(updated)
