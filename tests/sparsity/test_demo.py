"""Issue 15, part 3 (e): the demo network pruned to 80% sparse weights still trains, with the
shipped example config (AdamW + GMP) run by the demo's own training loop and by ``optimkit demo``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from optimkit import config, demo
from optimkit.cli import main
from optimkit.sparsity import GMP, attached

EXAMPLE = Path(__file__).resolve().parents[2] / "optimkit" / "examples" / "adamw_gmp_sparse.yaml"


@pytest.fixture(scope="module")
def data() -> demo.DigitsData:
    return demo.load_data(seed=0)


def test_the_sparse_example_trains_to_a_sensible_accuracy(data: demo.DigitsData) -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    settings = demo.TrainSettings.from_dict(raw["train"])
    built: list[torch.optim.Optimizer] = []

    def build(params: object) -> tuple[torch.optim.Optimizer, object]:
        optimizer, scheduler = config.load(EXAMPLE, params)  # type: ignore[arg-type]
        built.append(optimizer)
        return optimizer, scheduler

    run = demo.train(raw["name"], build, data, settings, progress=False)
    algorithm = attached(built[0])
    assert isinstance(algorithm, GMP) and algorithm.sparsity == 0.8
    steps = settings.epochs * data.steps_per_epoch(settings.batch_size)
    assert algorithm.step_count == steps and algorithm.schedule.end < steps
    # Both weight matrices are 80% zeros; the biases are dense.
    for p, mask in algorithm.masks.items():
        assert p.dim() == 2 and float((p == 0).float().mean()) == pytest.approx(0.8, abs=1e-3)
        assert float((~mask).float().mean()) == pytest.approx(0.8, abs=1e-3)
    assert len(algorithm.masks) == 2
    # A dense run of this config reaches ~97.5%; a network a fifth the size still learns the digits.
    assert run.test_accuracy >= 0.93, run.test_accuracy
    assert run.train_loss < 0.3


def test_optimkit_demo_runs_the_sparse_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--config", str(EXAMPLE), "--epochs", "3", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.startswith("adamw-gmp-sparse "))
    assert row[1:3] == ["AdamW", "CosineAnnealingLR"] and float(row[4].rstrip("%")) > 80
