"""Issue 15, part 3 (c): a run stopped and resumed from its checkpoint is bit-identical to one
that never stopped, for every algorithm, whether the algorithm's state is saved on its own or
rides in the optimizer's ``state_dict()``."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

from optimkit import config
from optimkit.optim import AdamW
from optimkit.sparsity import attached, configure

STEPS, STOP = 14, 6

CONFIGS: dict[str, dict[str, Any]] = {
    "static": {"algorithm": "static", "sparsity": 0.7, "init_method": "random", "seed": 5},
    "gmp": {"algorithm": "gmp", "sparsity": 0.8, "schedule": {"start": 2, "end": 11, "freq": 3}},
    # SET draws its regrowth from its own random stream: the checkpoint carries the stream.
    "set": {"algorithm": "set", "sparsity": 0.6, "update": {"freq": 4}, "init_method": "random"},
    "rigl": {"algorithm": "rigl", "sparsity": 0.6, "update": {"freq": 2, "stop": 12}, "drop_fraction_decay": "cosine"},
}


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, t: int) -> None:
    generator = torch.Generator().manual_seed(1000 + t)
    x, y = torch.randn(32, 12, generator=generator), torch.randint(0, 3, (32,), generator=generator)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _roundtrip(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _snapshot(model: torch.nn.Module, opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    algorithm = attached(opt)
    assert algorithm is not None
    state = [t.clone() for t in model.state_dict().values()]
    state += [v.clone() for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    return state + [m.clone() for m in algorithm.masks.values()]


def _assert_identical(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):  # bit for bit (and signed zeros alike)
        assert x.dtype == y.dtype and torch.equal(x.view(-1).view(torch.uint8) if x.dtype != torch.bool else x,
                                                  y.view(-1).view(torch.uint8) if y.dtype != torch.bool else y)


def _fresh(name: str) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
    """New weights, a dense AdamW, and the algorithm ``name`` with its masks of configure time."""
    model = _model()
    opt = AdamW(model.parameters(), lr=0.02)
    return model, opt, configure(opt, CONFIGS[name])


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, sparsity: Any, steps: range) -> None:
    for t in steps:
        _step(model, opt, t)
        sparsity.step()


@pytest.mark.parametrize("how", ["own-state-dict", "optimizer-state-dict"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_resume_is_bit_identical(name: str, how: str) -> None:
    # The run that never stops.
    model, opt, sparsity = _fresh(name)
    _train(model, opt, sparsity, range(STEPS))
    expected = _snapshot(model, opt)

    # The run that stops at STOP, checkpoints, and goes on in fresh objects.
    model, opt, sparsity = _fresh(name)
    _train(model, opt, sparsity, range(STOP))
    checkpoint = _roundtrip({"model": model.state_dict(), "optimizer": opt.state_dict(),
                             "sparsity": sparsity.state_dict()})
    assert checkpoint["optimizer"]["sparsity"]["step"] == STOP

    model, opt, sparsity = _fresh(name)
    model.load_state_dict(checkpoint["model"])
    if how == "own-state-dict":
        del checkpoint["optimizer"]["sparsity"]
        opt.load_state_dict(checkpoint["optimizer"])
        sparsity.load_state_dict(checkpoint["sparsity"])
    else:
        opt.load_state_dict(checkpoint["optimizer"])  # carries the masks, the step and the stream
    assert sparsity.step_count == STOP
    _train(model, opt, sparsity, range(STOP, STEPS))
    _assert_identical(_snapshot(model, opt), expected)


def test_resume_through_config_load(tmp_path: Any) -> None:
    # config.load steps the algorithm itself; optimizer.state_dict() alone resumes it.
    section = {"optimizer": {"name": "AdamW", "lr": 0.02}, "sparsity": CONFIGS["gmp"]}

    def fresh() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        model = _model()
        opt, _ = config.load(section, model.parameters())
        return model, opt

    model, opt = fresh()
    for t in range(STEPS):
        _step(model, opt, t)
    expected = _snapshot(model, opt)

    model, opt = fresh()
    for t in range(STOP):
        _step(model, opt, t)
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ckpt.pt")
    checkpoint = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    model, opt = fresh()
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    for t in range(STOP, STEPS):
        _step(model, opt, t)
    _assert_identical(_snapshot(model, opt), expected)
    assert attached(opt).step_count == STEPS  # type: ignore[union-attr]


def test_a_torch_optimizer_takes_the_checkpoint_and_ignores_the_masks() -> None:
    model = _model()
    opt = AdamW(model.parameters(), lr=0.02)
    configure(opt, CONFIGS["static"])
    _step(model, opt, 0)
    torch_opt = torch.optim.AdamW(model.parameters(), lr=0.02)
    torch_opt.load_state_dict(opt.state_dict())
    assert torch.equal(torch_opt.state_dict()["state"][0]["exp_avg"], opt.state[model[0].weight]["exp_avg"])


def test_a_wrong_state_dict_is_refused_and_changes_nothing() -> None:
    model = _model()
    opt = AdamW(model.parameters(), lr=0.02)
    gmp = configure(opt, CONFIGS["gmp"])
    saved = gmp.state_dict()
    masks = gmp.masks
    with pytest.raises(ValueError, match="algorithm 'gmp', this one is 'static'"):
        other = configure(AdamW(_model().parameters()), CONFIGS["static"])
        other.load_state_dict(saved)
    with pytest.raises(ValueError, match=r"masks parameters \[0\], this algorithm masks \[0, 2\]"):
        gmp.load_state_dict({**saved, "masks": {0: saved["masks"][0]}})
    with pytest.raises(ValueError, match=r"shape \(3, 3\), expected \(16, 12\)"):
        gmp.load_state_dict({**saved, "masks": {0: torch.ones(3, 3, dtype=torch.bool), 2: saved["masks"][2]}})
    with pytest.raises(ValueError, match="not a sparsity state dict"):
        gmp.load_state_dict({"masks": {}})
    assert all(torch.equal(masks[p], m) for p, m in gmp.masks.items()) and gmp.step_count == 0
