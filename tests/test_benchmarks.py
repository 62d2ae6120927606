"""Smoke test of benchmarks/step_bench.py: it runs end to end and writes the JSON it promises.

No speed assertions: the numbers of a smoke run are meaningless.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from tests._harness import load_script


def test_step_bench_smoke(tmp_path: Path, capsys) -> None:
    bench = load_script("benchmarks/step_bench.py")
    threads = torch.get_num_threads()
    out = tmp_path / "results.json"
    returned = bench.main(["--smoke", "--layouts", "c", "--optimizers", "adam", "--repeats", "1",
                           "--threads", "1", "--no-compile", "--json", str(out)])
    assert torch.get_num_threads() == threads  # restored
    printed = capsys.readouterr().out
    assert "roofline" in printed and "scheduler.step()" in printed

    results = json.loads(out.read_text())
    assert set(results) >= {"meta", "roofline", "steps", "layouts", "schedulers", "compile"}
    assert results["meta"]["scale"] == "smoke" and results["meta"]["repeats"] == 1
    assert results["compile"] == {"skipped": "--no-compile"}
    assert results["roofline"]["gbps"] > 0 and results["roofline"]["median_ms"] > 0

    (row,) = results["steps"]
    assert (row["layout"], row["optimizer"]) == ("c", "adam")
    assert row["state_tensors"] == 2 and row["min_bytes"] == 7 * row["numel"] * 4
    assert {"optimkit-default", "optimkit-foreach", "torch-default", "torch-foreach"} <= set(row["variants"])
    for name, variant in row["variants"].items():
        assert variant["median_ms"] > 0 and variant["min_ms"] > 0 and variant["gbps"] > 0, name
        assert len(variant["samples_ms"]) == 1
        assert variant["vs_torch_default"] > 0 and variant["vs_torch_best"] > 0
    assert row["variants"]["torch-default"]["vs_torch_default"] == 1.0
    # The row's own roofline: its add_ timed in the row's round-robin, one sample per repeat.
    assert row["roofline_gbps"] > 0 and row["roofline_ms"] > 0
    for variant in row["variants"].values():
        assert variant["roof"] == pytest.approx(variant["gbps"] / row["roofline_gbps"])
    assert row["torch_best"] in row["variants"]

    sched = results["schedulers"]
    assert {(r["scheduler"], r["groups"], r["lr"]) for r in sched} == {
        (name, groups, lr) for name in ("StepLR", "CosineAnnealingLR", "CyclicLR", "OneCycleLR")
        for groups in (1, 10) for lr in ("float", "tensor")}
    assert all(r["optimkit_us"] > 0 and r["torch_us"] > 0 and r["ratio"] > 0 for r in sched)
    assert returned["steps"][0]["optimizer"] == "adam"

    # The README's table renders from this file: one line per row, the fastest variant named.
    table = load_script("benchmarks/markdown_table.py")
    lines = table.render(results).splitlines()
    assert lines[-1].startswith("| c | adam | ") and len(lines) == 5
    assert "roofline" in lines[0]


def test_variants_are_data() -> None:
    """The variant list is a registry: a new variant is one registration, and a builder that
    returns None for an optimizer is skipped, not an error."""
    bench = load_script("benchmarks/step_bench.py")
    assert list(bench.VARIANTS)[:7] == ["optimkit-default", "optimkit-foreach", "optimkit-fused",
                                        "optimkit-fastest", "torch-default", "torch-foreach", "torch-fused"]
    layout = bench.layout_c(64)
    row = bench.bench_row(layout, bench.make_case("lion"), bench.SCALES["smoke"], "cpu", 1,
                          ["optimkit-default", "torch-fused", "torch-default"])
    assert set(row["variants"]) == {"optimkit-default"} and row["skipped"] == {}
    assert row["variants"]["optimkit-default"]["vs_torch_default"] is None


def test_state_memory_smoke(tmp_path: Path, capsys, monkeypatch) -> None:
    """benchmarks/state_memory.py end to end: every asked-for row is either measured or printed
    with why it did not run. torchao is hidden (its rows compile for tens of seconds), so its row
    must say "not installed"; bitsandbytes runs when installed; the optimkit rows must run."""
    bench = load_script("benchmarks/state_memory.py")
    for name in ("torchao", "torchao.optim"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ModuleNotFoundError
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    threads = torch.get_num_threads()
    out = tmp_path / "state.json"
    bench.main(["--smoke", "--threads", "1", "--rows", "fp32,bf16,int8,bnb-8bit,ao-8bit", "--json", str(out)])
    assert torch.get_num_threads() == threads  # restored
    printed = capsys.readouterr().out
    assert "must-show (issue 15)" in printed and "not installed" in printed

    results = json.loads(out.read_text())
    assert results["meta"]["scale"] == "smoke" and results["meta"]["seeds"] == [0]
    rows = results["rows"]
    assert list(rows) == ["fp32", "bf16", "int8", "bnb-8bit", "ao-8bit"]
    assert rows["fp32"]["skipped"] is None
    assert rows["ao-8bit"]["skipped"].startswith("not installed")
    assert (rows["bnb-8bit"]["skipped"] is None) == has_bnb
    for key in ("bf16", "int8"):
        assert rows[key]["skipped"] is None, rows[key]
    ran = [key for key, row in rows.items() if row["skipped"] is None]

    assert set(results["tasks"]) == {"demo", "cnn"}
    for task in results["tasks"].values():
        assert set(task) == set(ran)
        for key in ran:
            res = task[key]
            assert "error" not in res, res
            assert 0 <= res["mean"] <= 100 and res["std"] == 0.0 and len(res["runs"]) == 1
            assert res["memory_ratio"] > 0 and res["state_bytes"] > 0
        assert task["fp32"]["diff_pp"] == 0.0

    timing = results["timing"]
    assert set(timing["rows"]) == set(ran) and timing["numel"] == 2 * (256 * 256 + 256)
    for key in ran:
        res = timing["rows"][key]
        assert res["median_ms"] > 0 and len(res["samples_ms"]) == 2 and res["time_ratio"] > 0
    # Two float32 moments (and a step counter) per parameter: the 1.0 of every ratio.
    assert 8.0 <= timing["rows"]["fp32"]["bytes_per_param"] < 8.01
    assert 0.49 < timing["rows"]["bf16"]["memory_ratio"] <= 0.51
    assert timing["rows"]["int8"]["memory_ratio"] <= 0.3
    assert set(results["checks"]["int8"]["accuracy"]) == {"demo", "cnn"}
    assert results["checks"]["int8"]["memory"] is True


def test_placement_bench_smoke(capsys) -> None:
    bench = load_script("benchmarks/placement.py")
    out = bench.main(["--optimizers", "adam", "--sizes", "4096", "--repeats", "1"])
    assert [r["variant"] for r in out["rows"]] == ["torch-fused", "optimkit-unplaced", "optimkit"]
    assert all(r["median_ms"] > 0 and r["gbps"] > 0 for r in out["rows"])
    assert out["rows"][0]["vs_torch_fused"] == 1.0
    # Where the gradient and both moments start relative to the parameter: three numbers.
    assert all(len(r["offsets_kib"].split()) == 3 for r in out["rows"])
    assert "optimkit-unplaced" in capsys.readouterr().out
