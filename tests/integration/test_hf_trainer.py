"""Hugging Face ``transformers.Trainer`` with optimkit optimizers and schedulers, passed as
``Trainer(optimizers=(optimizer, scheduler))``: real Trainer runs on CPU, no mocks, no downloads
(the models are a small ``nn.Module`` and a GPT-2 built from a tiny config).

Each run checks that the parameters changed, that the optimizer stepped exactly ``max_steps``
times (a step hook and the optimizer's own ``step`` counter), and that the learning rate used at
every step is the scheduler's closed form ``lr_at(step)`` (so the Trainer stepped the scheduler
once per optimizer step, also with gradient accumulation), and what the Trainer logged. A run
resumed from a Trainer checkpoint (``optimizer.pt`` / ``scheduler.pt``, reloaded with
``weights_only=True``) must end bit-for-bit where the uninterrupted run ends.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it

import optimkit.cerebras.optim as cs_optim  # noqa: E402
import optimkit.optim as ok  # noqa: E402
from optimkit import config  # noqa: E402
from optimkit.optim import lr_scheduler as sched  # noqa: E402

MAX_STEPS = 6


@pytest.fixture(autouse=True)
def _keep_global_rng() -> Iterator[None]:
    """The Trainer seeds the global generators (``set_seed``); give the other tests theirs back."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        yield
    random.setstate(py_state)
    np.random.set_state(np_state)


class Regressor(nn.Module):
    """The smallest model the Trainer accepts: keyword inputs, a dict with ``"loss"``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = self.net(x).squeeze(-1)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


class Points(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = torch.randn(5, generator=torch.Generator().manual_seed(i))
        return {"x": x, "labels": x[:2].sum().sin()}


class Tokens(torch.utils.data.Dataset):
    """Causal-LM examples (``labels`` = ``input_ids``; the model shifts them)."""

    def __len__(self) -> int:
        return 32

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids = torch.randint(0, 32, (12,), generator=torch.Generator().manual_seed(i))
        return {"input_ids": ids, "labels": ids.clone()}


def _train(tmp_path: Path, model: nn.Module, dataset: Any, optimizer: torch.optim.Optimizer, scheduler: Any,
           resume_from_checkpoint: str | None = None, **arguments: Any) -> tuple[Any, list[dict[str, float]], int]:
    """Run the Trainer (``arguments`` add to or override the TrainingArguments below); returns
    it, the hyperparameters of group 0 at each optimizer step (seen by a pre-hook) and the number
    of steps a post-hook counted."""
    used: list[dict[str, float]] = []
    steps = [0]
    optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: used.append({k: float(v) for k, v in opt.param_groups[0].items()
                                               if k in ("lr", "weight_decay")}))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: steps.__setitem__(0, steps[0] + 1))
    args = transformers.TrainingArguments(**{
        "output_dir": str(tmp_path / "out"), "max_steps": MAX_STEPS, "report_to": [], "use_cpu": True,
        "save_strategy": "no", "logging_steps": 1, "disable_tqdm": True, "dataloader_num_workers": 0, "seed": 7,
        **arguments,
    })
    trainer = transformers.Trainer(model=model, args=args, train_dataset=dataset, optimizers=(optimizer, scheduler))
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return trainer, used, steps[0]


def _check_run(trainer: Any, optimizer: torch.optim.Optimizer, scheduler: Any, used: list[dict[str, float]],
               counted: int, before: list[torch.Tensor]) -> list[float]:
    # The Trainer drove optimkit's objects (accelerate may wrap the optimizer, never replace it).
    assert getattr(trainer.optimizer, "optimizer", trainer.optimizer) is optimizer
    assert getattr(trainer.lr_scheduler, "scheduler", trainer.lr_scheduler) is scheduler
    assert trainer.state.global_step == MAX_STEPS
    assert counted == MAX_STEPS and len(used) == MAX_STEPS
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, trainer.model.parameters(), strict=True)]
    assert all(changed), changed

    lrs = [u["lr"] for u in used]
    assert lrs == pytest.approx([scheduler.lr_at(t)[0] for t in range(MAX_STEPS)], rel=1e-12, abs=0)
    assert all(a != b for a, b in zip(lrs, lrs[1:])), lrs  # stepped once per optimizer step
    # The Trainer logs the lr of the step just taken (read before it steps the scheduler).
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    assert logged == pytest.approx(lrs, rel=1e-12, abs=0)
    return lrs


@pytest.mark.parametrize("accumulate", [1, 2])
@pytest.mark.parametrize("case", ["adamw-onecycle", "sgd-nesterov-warmup-cosine"])
def test_trainer_with_optimkit_optimizer_and_scheduler(case: str, accumulate: int, tmp_path: Path) -> None:
    model = Regressor()
    before = [p.detach().clone() for p in model.parameters()]
    if case == "adamw-onecycle":
        optimizer = ok.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
        scheduler = sched.OneCycleLR(optimizer, max_lr=5e-2, total_steps=MAX_STEPS)
    else:
        optimizer = ok.SGD(model.parameters(), lr=5e-2, momentum=0.9, nesterov=True)
        scheduler = sched.SequentialLR(
            optimizer,
            [sched.LinearLR(optimizer, start_factor=0.2, total_iters=2),
             sched.CosineAnnealingLR(optimizer, T_max=MAX_STEPS, eta_min=1e-3)],
            milestones=[2],
        )

    trainer, used, counted = _train(tmp_path, model, Points(), optimizer, scheduler,
                                    per_device_train_batch_size=4, gradient_accumulation_steps=accumulate)

    _check_run(trainer, optimizer, scheduler, used, counted, before)
    assert scheduler.last_epoch == MAX_STEPS
    if case == "adamw-onecycle":  # Adam's own counter: one increment per step, per parameter
        assert {float(s["step"]) for s in optimizer.state.values()} == {float(MAX_STEPS)}
    else:
        assert all("momentum_buffer" in s for s in optimizer.state.values())


def _cerebras_yaml(tmp_path: Path) -> Path:
    """A Cerebras-style config: AdamW, a linear warmup then a cosine decay of the lr, and a
    linear weight-decay schedule, which ``config.load`` returns as one CombinedScheduler."""
    path = tmp_path / "cerebras_adamw.yaml"
    path.write_text(
        "optimizer:\n"
        "  optimizer_type: AdamW\n"
        "  betas: [0.9, 0.98]\n"
        "  learning_rate:\n"
        "    - scheduler: Linear\n"
        "      initial_learning_rate: 0.0\n"
        "      end_learning_rate: 3.0e-3\n"
        "      total_iters: 2\n"
        "    - scheduler: CosineDecay\n"
        "      initial_learning_rate: 3.0e-3\n"
        "      end_learning_rate: 1.0e-5\n"
        "      total_iters: 5\n"
        "  weight_decay:\n"
        "    scheduler: Linear\n"
        "    initial_val: 0.1\n"
        "    end_val: 0.0\n"
        "    total_iters: 8\n",
        encoding="utf-8",
    )
    return path


def test_trainer_with_config_built_cerebras_optimizer(tmp_path: Path) -> None:
    """A GPT-2 made from a tiny config, trained with what ``optimkit.config.load`` builds from a
    Cerebras-style YAML file: a Cerebras AdamW and a CombinedScheduler (lr warmup then cosine
    decay, and a weight-decay schedule) that the Trainer steps as its lr scheduler."""
    path = _cerebras_yaml(tmp_path)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0,
    ))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer, scheduler = config.load(path, model.parameters())
    assert isinstance(optimizer, cs_optim.AdamW)
    assert isinstance(scheduler, cs_optim.lr_scheduler.CombinedScheduler)

    trainer, used, counted = _train(tmp_path, model, Tokens(), optimizer, scheduler, per_device_train_batch_size=4)

    lrs = _check_run(trainer, optimizer, scheduler, used, counted, before)
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(3e-3, rel=1e-12)  # the warmup, then the decay
    decays = [u["weight_decay"] for u in used]
    assert decays == pytest.approx([scheduler.values_at(t)["weight_decay"][0] for t in range(MAX_STEPS)],
                                   rel=1e-12, abs=0)
    assert decays[0] == 0.1 and all(a > b for a, b in zip(decays, decays[1:]))
    assert [part.last_epoch for part in scheduler._schedulers] == [MAX_STEPS, MAX_STEPS]


class ConstantLoss(nn.Module):
    """A loss that never improves (its gradient is not zero, so the optimizer does step)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return {"loss": (self.w - self.w.detach()).sum() + 1.0}


@pytest.mark.parametrize("plateau_cls", [
    # torch's own class: the control, showing what the Trainer does with a plateau scheduler.
    pytest.param(torch.optim.lr_scheduler.ReduceLROnPlateau, id="torch"),
    # The Trainer checks isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) to step
    # it after evaluation with the metric instead of after every optimizer step without one:
    # optimkit's class is a subclass of torch's for that.
    pytest.param(sched.ReduceLROnPlateau, id="optimkit"),
])
def test_reduce_on_plateau_stepped_with_the_eval_metric(plateau_cls: type, tmp_path: Path) -> None:
    model = ConstantLoss()
    optimizer = ok.SGD(model.parameters(), lr=0.1)
    scheduler = plateau_cls(optimizer, factor=0.5, patience=0)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=3, report_to=[], use_cpu=True, save_strategy="no",
        eval_strategy="steps", eval_steps=1, metric_for_best_model="loss", disable_tqdm=True,
        per_device_train_batch_size=4, per_device_eval_batch_size=4, dataloader_num_workers=0,
    )
    points = torch.utils.data.Subset(Points(), range(4))
    trainer = transformers.Trainer(model=model, args=args, train_dataset=points, eval_dataset=points,
                                   optimizers=(optimizer, scheduler))
    trainer.train()
    # Evaluation 1 sets the best loss; 2 and 3 do not improve on it: the lr is halved twice.
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025, rel=1e-12)
    assert [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e] == [1.0, 1.0, 1.0]


def _all_same(a: Any, b: Any, where: str = "") -> None:
    """Recursive bitwise equality of state dicts (tensors: same dtype and torch.equal)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        if not torch.equal(a, b):
            pytest.fail(f"{where}: tensors differ (max |a - b| = {(a - b).abs().max().item():.3e})")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {a.keys()} != {b.keys()}"
        for key in a:
            _all_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _all_same(x, y, f"{where}[{i}]")
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} != {b!r}"


def test_resume_from_trainer_checkpoint_is_bitwise(tmp_path: Path) -> None:
    """The Trainer saves optimizer.pt and scheduler.pt and reloads them with
    ``torch.load(weights_only=True)``; a run resumed from its step-3 checkpoint must end exactly
    where the uninterrupted run ends."""
    path = _cerebras_yaml(tmp_path)
    arguments = dict(per_device_train_batch_size=4, save_strategy="steps", save_steps=3)

    full_model = Regressor()
    full_opt, full_sched = config.load(path, full_model.parameters())
    _, full_used, _ = _train(tmp_path / "full", full_model, Points(), full_opt, full_sched, **arguments)
    checkpoint = tmp_path / "full" / "out" / "checkpoint-3"
    assert (checkpoint / "scheduler.pt").is_file() and (checkpoint / "optimizer.pt").is_file()

    model = Regressor()
    with torch.no_grad():  # a different start: the weights must come from the checkpoint
        for p in model.parameters():
            p.add_(1.0)
    opt, schedule = config.load(path, model.parameters())
    trainer, used, counted = _train(tmp_path / "resumed", model, Points(), opt, schedule,
                                    resume_from_checkpoint=str(checkpoint), **arguments)

    assert trainer.state.global_step == MAX_STEPS and counted == MAX_STEPS - 3
    assert used == full_used[3:]
    for (name, a), (_, b) in zip(full_model.named_parameters(), model.named_parameters(), strict=True):
        _all_same(a.detach(), b.detach(), name)
    _all_same(full_opt.state_dict(), opt.state_dict(), "optimizer")
    _all_same(full_sched.state_dict(), schedule.state_dict(), "scheduler")
