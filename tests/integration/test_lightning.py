"""PyTorch Lightning with optimkit optimizers and schedulers: real ``Trainer`` runs, no mocks.

``configure_optimizers`` returns an optimkit optimizer and scheduler in Lightning's dict form
with ``"interval": "step"``. Each case trains a tiny float64 model on CPU and checks that

* the scheduler was stepped once per optimizer step (the learning rate used at every step is
  the scheduler's closed form ``lr_at(step)``, and it changes at every step);
* a run checkpointed at step ``K`` and resumed with ``Trainer.fit(ckpt_path=...)`` ends with the
  parameters, the optimizer's state dict and the scheduler's state dict bit-for-bit equal to
  those of an uninterrupted run of the same ``STEPS``.

The batches are generated from ``global_step`` (a seeded generator per step), not taken from the
DataLoader: what a resumed run sees then depends only on how many optimizer steps were taken,
not on how Lightning replays a non-resumable DataLoader mid-epoch, so any difference left comes
from the optimizer or scheduler state that went through the checkpoint.

A last test gives Lightning a ``ReduceLROnPlateau`` with a ``monitor``, as users write it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

try:  # the unified package, else the standalone one
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover - depends on what is installed
    pl = pytest.importorskip("pytorch_lightning")

import optimkit.cerebras.optim as cs_optim
import optimkit.optim as ok
from optimkit import config
from optimkit.optim import lr_scheduler as sched

pytestmark = [
    # Lightning's advice for real runs (DataLoader workers on a many-core machine, reusing a
    # checkpoint directory) and a deprecation inside Lightning are noise here; nothing else is muted.
    pytest.mark.filterwarnings("ignore:.*does not have many workers.*"),
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty"),
    pytest.mark.filterwarnings("ignore:.*`isinstance\\(treespec, LeafSpec\\)` is deprecated.*"),
]

STEPS = 9  # optimizer steps of a whole run
K = 4  # the step the interrupted run is checkpointed at
BATCH = 8
EPOCH = 4  # DataLoader length: the runs cross epochs, and K and STEPS fall mid-epoch

OptimFactory = Callable[[Any], tuple[torch.optim.Optimizer, Any]]


def _config_yaml(tmp_path: Path) -> Path:
    """A Cerebras-style config: AdamW, warmup then cosine decay of the lr, and a weight-decay
    schedule (so ``config.load`` returns a CombinedScheduler of both)."""
    path = tmp_path / "cerebras_adamw.yaml"
    path.write_text(
        "optimizer:\n"
        "  optimizer_type: AdamW\n"
        "  betas: [0.9, 0.99]\n"
        "  learning_rate:\n"
        "    - scheduler: Linear\n"
        "      initial_learning_rate: 1.0e-3\n"
        "      end_learning_rate: 2.0e-2\n"
        "      total_iters: 3\n"
        "    - scheduler: CosineDecay\n"
        "      initial_learning_rate: 2.0e-2\n"
        "      end_learning_rate: 1.0e-4\n"
        f"      total_iters: {STEPS}\n"
        "  weight_decay:\n"
        "    scheduler: Linear\n"
        "    initial_val: 0.1\n"
        "    end_val: 0.0\n"
        f"    total_iters: {STEPS + 2}\n",
        encoding="utf-8",
    )
    return path


def _cases(tmp_path: Path) -> dict[str, OptimFactory]:
    yaml_path = _config_yaml(tmp_path)
    return {
        "adamw-warmup-cosine": lambda params: _with(
            ok.AdamW(params, lr=1e-2, weight_decay=0.05),
            lambda opt: sched.SequentialLR(
                opt,
                [sched.LinearLR(opt, start_factor=0.1, total_iters=3),
                 sched.CosineAnnealingLR(opt, T_max=STEPS, eta_min=1e-4)],
                milestones=[3],
            ),
        ),
        "sgd-nesterov-onecycle": lambda params: _with(
            ok.SGD(params, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-3),
            lambda opt: sched.OneCycleLR(opt, max_lr=5e-2, total_steps=STEPS),
        ),
        "cerebras-lamb-cosinedecay": lambda params: _with(
            cs_optim.Lamb(params, lr=1.0, weight_decay=0.01),
            lambda opt: cs_optim.lr_scheduler.CosineDecayLR(
                opt, initial_learning_rate=3e-2, end_learning_rate=1e-3, total_iters=STEPS),
        ),
        "config-yaml-cerebras": lambda params: config.load(yaml_path, params),
    }


def _with(opt: torch.optim.Optimizer, make: Callable[[torch.optim.Optimizer], Any]) -> tuple[Any, Any]:
    return opt, make(opt)


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(BATCH, 5, generator=generator, dtype=torch.float64)
    return x, x[:, :2].sin() + 0.1 * torch.randn(BATCH, 2, generator=generator, dtype=torch.float64)


class TinyModule(pl.LightningModule):
    def __init__(self, make_optim: OptimFactory, init_seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # seeded, leaving the global generator as it was
            torch.manual_seed(init_seed)
            self.net = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 2)).double()
        self.make_optim = make_optim
        self.seen: list[tuple[int, float, float]] = []  # (global_step, lr, weight_decay) used

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        group = self.trainer.optimizers[0].param_groups[0]
        self.seen.append((self.global_step, float(group["lr"]), float(group.get("weight_decay", 0.0))))
        x, y = _batch(self.global_step)
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer, scheduler = self.make_optim(self.parameters())
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        # Only sets the epoch length; training_step makes its own batches (see the module doc).
        return torch.utils.data.DataLoader(torch.arange(EPOCH), batch_size=1)


def _fit(module: TinyModule, root: Path, max_steps: int, ckpt_path: Path | None = None,
         callbacks: list[Any] | None = None) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_steps=max_steps, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=bool(callbacks), callbacks=callbacks or [],
        default_root_dir=root, num_sanity_val_steps=0,
    )
    trainer.fit(module, ckpt_path=ckpt_path)
    return trainer


def _assert_same(a: Any, b: Any, where: str = "") -> None:
    """Recursive bitwise equality of state dicts (tensors with torch.equal and equal dtypes)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, f"{where}: {b!r}"
        if not torch.equal(a, b):
            pytest.fail(f"{where}: tensors differ (max |a - b| = {(a - b).abs().max().item():.3e})")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {a.keys()} != {b.keys()}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} != {b!r}"


def _checkpointing(where: Path) -> Any:
    return pl.callbacks.ModelCheckpoint(dirpath=where, filename="{step}", every_n_train_steps=K, save_top_k=-1)


def _scheduler(trainer: pl.Trainer) -> Any:
    (scheduler_config,) = trainer.lr_scheduler_configs
    return scheduler_config.scheduler


@pytest.mark.parametrize("case", ["adamw-warmup-cosine", "sgd-nesterov-onecycle", "cerebras-lamb-cosinedecay",
                                  "config-yaml-cerebras"])
def test_step_interval_schedule_and_bitwise_resume(case: str, tmp_path: Path) -> None:
    make = _cases(tmp_path)[case]

    # The uninterrupted run, which also leaves a checkpoint at step K (as a crash would).
    full = TinyModule(make)
    start = [p.detach().clone() for p in full.parameters()]
    full_trainer = _fit(full, tmp_path / "full", STEPS, callbacks=[_checkpointing(tmp_path / "ckpt")])
    assert full_trainer.global_step == STEPS
    full_scheduler = _scheduler(full_trainer)
    full_optimizer = full_trainer.optimizers[0]

    # Lightning kept optimkit's objects (no wrapping or replacement) and stepped the scheduler
    # after every optimizer step: the lr used at step t is the closed form at t, and it moved.
    assert type(full_optimizer).__module__.startswith("optimkit.")
    assert type(full_scheduler).__module__.startswith("optimkit.")
    assert [s for s, _, _ in full.seen] == list(range(STEPS))
    used = [lr for _, lr, _ in full.seen]
    assert used == pytest.approx([full_scheduler.lr_at(t)[0] for t in range(STEPS)], rel=1e-12, abs=0)
    assert all(a != b for a, b in zip(used, used[1:])), used
    if hasattr(full_scheduler, "last_epoch"):
        assert full_scheduler.last_epoch == STEPS
    else:  # a CombinedScheduler (as torch's ChainedScheduler) has none: each of its schedulers
        assert [part.last_epoch for part in full_scheduler._schedulers] == [STEPS, STEPS]
    assert full_optimizer.param_groups[0]["lr"] == pytest.approx(full_scheduler.lr_at(STEPS)[0], rel=1e-12)
    if case == "config-yaml-cerebras":  # the weight-decay schedule was stepped too
        decays = [wd for _, _, wd in full.seen]
        expected = full_scheduler.values_at
        assert decays == pytest.approx([expected(t)["weight_decay"][0] for t in range(STEPS)], rel=1e-12, abs=0)
        assert all(a != b for a, b in zip(decays, decays[1:])), decays
    assert any(not torch.equal(a, b) for a, b in zip(start, full.parameters()))

    # Resume from step K into a module initialised differently: everything must come from the
    # checkpoint, and the run must continue at K (not start over).
    ckpt = tmp_path / "ckpt" / f"step={K}.ckpt"
    assert ckpt.is_file(), sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    resumed = TinyModule(make, init_seed=123)
    resumed_trainer = _fit(resumed, tmp_path / "resumed", STEPS, ckpt_path=ckpt,
                           callbacks=[_checkpointing(tmp_path / "ckpt")])
    assert resumed_trainer.global_step == STEPS
    assert resumed.seen == full.seen[K:]

    for (name, a), (_, b) in zip(full.named_parameters(), resumed.named_parameters(), strict=True):
        _assert_same(a.detach(), b.detach(), name)
    _assert_same(full_optimizer.state_dict(), resumed_trainer.optimizers[0].state_dict(), "optimizer")
    _assert_same(full_scheduler.state_dict(), _scheduler(resumed_trainer).state_dict(), "scheduler")
    assert full_optimizer.param_groups[0]["lr"] == resumed_trainer.optimizers[0].param_groups[0]["lr"]


class ConstantLoss(pl.LightningModule):
    """A loss that never improves (its gradient is not zero, so the optimizer does step)."""

    def __init__(self, plateau_cls: type) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.plateau_cls = plateau_cls

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = (self.w - self.w.detach()).sum() + 1.0
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = ok.SGD(self.parameters(), lr=0.1)
        scheduler = self.plateau_cls(optimizer, factor=0.5, patience=0)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "train_loss"}}

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.arange(2), batch_size=1)


@pytest.mark.parametrize("plateau_cls", [
    # torch's own class: the control, showing what Lightning does with a plateau scheduler.
    pytest.param(torch.optim.lr_scheduler.ReduceLROnPlateau, id="torch"),
    # optimkit's is also an instance of torch's class, which is what Lightning checks to step a
    # scheduler with the monitored metric (without it, step() would be called without one).
    pytest.param(sched.ReduceLROnPlateau, id="optimkit"),
])
def test_reduce_on_plateau_gets_the_monitored_metric(plateau_cls: type, tmp_path: Path) -> None:
    module = ConstantLoss(plateau_cls)
    trainer = _fit_epochs(module, tmp_path, epochs=3)
    # Epoch 1 sets the best loss; epochs 2 and 3 do not improve on it: the lr is halved twice.
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.025, rel=1e-12)
    assert not torch.equal(module.w.detach(), torch.zeros(3, dtype=torch.float64))


def _fit_epochs(module: pl.LightningModule, root: Path, epochs: int) -> pl.Trainer:
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=root, num_sanity_val_steps=0,
    )
    trainer.fit(module)
    return trainer
