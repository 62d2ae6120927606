"""Regenerate the documentation that comes from the registries (run after adding an optimizer or a
scheduler):

* the optimizer table in README.md (between the ``<!-- optimizers:start -->`` markers);
* docs/reference.md, one section per optimizer and scheduler, and the scheduler plots under
  docs/img/schedulers/.

    python scripts/update_docs.py            # rewrite the files
    python scripts/update_docs.py --check    # exit 1 (naming the files) when any is stale
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from optimkit.cli import optimizer_table
from optimkit.reference import render as render_reference
from optimkit.reference import scheduler_images, write_images

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"
START, END = "<!-- optimizers:start -->", "<!-- optimizers:end -->"


def render(text: str) -> str:
    """README text with the optimizer table between the markers replaced by the current one."""
    block = f"{START}\n{optimizer_table(markdown=True)}\n{END}"
    return re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)


def stale() -> list[str]:
    """The generated files that differ from what the registries give now (images: missing ones)."""
    out = []
    current = README.read_text()
    if render(current) != current:
        out.append(str(README.relative_to(ROOT)))
    if not REFERENCE.exists() or REFERENCE.read_text() != render_reference():
        out.append(str(REFERENCE.relative_to(ROOT)))
    for job in scheduler_images():
        if not (REFERENCE.parent / job.path).exists():
            out.append(f"docs/{job.path}")
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        files = stale()
        if files:
            print("stale: " + ", ".join(files) + " (run: python scripts/update_docs.py)", file=sys.stderr)
            return 1
        return 0
    README.write_text(render(README.read_text()))
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(render_reference())
    keep = {(REFERENCE.parent / p).resolve() for p in (str(x.relative_to(REFERENCE.parent)) for x in write_images(REFERENCE.parent))}
    # Plots of schedulers that no longer exist would linger: remove them.
    for old in (REFERENCE.parent / "img" / "schedulers").glob("*.png"):
        if old.resolve() not in keep:
            old.unlink()
    print(f"wrote {README.relative_to(ROOT)}, {REFERENCE.relative_to(ROOT)} and {len(keep)} scheduler plots")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
