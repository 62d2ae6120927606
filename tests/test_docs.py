"""docs/reference.md and its plots follow the registries."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from optimkit import reference
from optimkit.registry import optimizer_specs, scheduler_specs

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "reference.md"


@pytest.fixture(scope="module")
def rendered() -> str:
    return reference.render()


def test_reference_is_current(rendered: str) -> None:
    assert PAGE.exists(), "docs/reference.md is missing: run python scripts/update_docs.py"
    assert PAGE.read_text() == rendered, "docs/reference.md is stale: run python scripts/update_docs.py"


def test_one_section_per_registered_class(rendered: str) -> None:
    anchors = re.findall(r'<a id="([^"]+)"></a>', rendered)
    expected = [f"{ns}-optimizer-{s.name}" for ns in reference.NAMESPACES for s in optimizer_specs(ns)]
    expected += [f"{ns}-scheduler-{s.name}" for ns in reference.NAMESPACES for s in scheduler_specs(ns)]
    assert sorted(anchors) == sorted(expected)
    assert len(anchors) == len(set(anchors))


def test_sections_have_signature_defaults_math_and_example(rendered: str) -> None:
    sections = dict(re.findall(r'<a id="([^"]+)"></a>\n(.*?)(?=<a id=|\Z)', rendered, re.S))
    adam = sections["optim-optimizer-adam"]
    assert "Adam(params, lr=0.001, betas=(0.9, 0.999)" in adam
    assert "| `eps` | `1e-08` |" in adam
    assert "```math" in adam and "\\hat v_t" in adam
    assert ">>> opt = Adam(" in adam
    onecycle = sections["optim-scheduler-onecyclelr"]
    assert "![OneCycleLR default shape](img/schedulers/optim-onecyclelr.png)" in onecycle


def test_every_linked_plot_is_a_png(rendered: str) -> None:
    links = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", rendered)
    assert len(links) >= len(scheduler_specs()) - 2  # all but a couple can be drawn with defaults
    for link in links:
        path = PAGE.parent / link
        assert path.is_file(), f"{link} is missing: run python scripts/update_docs.py"
        head = path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", head[16:24])
        assert 200 <= width <= 1200 and 100 <= height <= 1200, (link, width, height)


def test_stale_page_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests._harness import load_script

    module = load_script("scripts/update_docs.py")
    stale_page = tmp_path / "reference.md"
    stale_page.write_text(PAGE.read_text().replace("### `adam`: Adam", "### `adam`: Adam (edited)"))
    monkeypatch.setattr(module, "REFERENCE", stale_page)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "README", tmp_path / "README.md")
    (tmp_path / "README.md").write_text((ROOT / "README.md").read_text())
    assert "reference.md" in module.stale()
