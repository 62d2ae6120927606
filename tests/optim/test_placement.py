"""Large state tensors placed out of step with their parameter (``optimkit.optim._placement``).

The placement changes where a state tensor's storage starts and nothing else: every optimizer of
the database still follows its oracle with every state tensor placed (the size threshold lowered
to 0), its checkpoints load into torch.optim and through ``torch.save``, flattened buffers train
to the same bits, and tensors the placement must not touch (small ones, tensor subclasses,
non-contiguous ones, GPU ones) come from torch's own factories.
"""

from __future__ import annotations

import inspect
import io
from typing import Any

import pytest
import torch
from torch import nn

import optimkit
import optimkit.optim as ok
from optimkit.optim import _placement
from tests._db import DBEntry, cases
from tests._harness import follow_oracle

STEPS = 12


@pytest.fixture
def place_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every contiguous CPU state tensor placed, whatever its size, so the small tensors of the
    database take the placed path."""
    monkeypatch.setattr(_placement, "MIN_BYTES", 0)


def _state_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [value for state in optimizer.state.values() for value in state.values()
            if isinstance(value, torch.Tensor) and value.dim() > 0]


@pytest.mark.parametrize("entry,config,executor", cases())
def test_placed_state_follows_the_oracle(entry: DBEntry, config: dict[str, Any], executor: str,
                                         place_everything: None) -> None:
    _, ours = follow_oracle(entry, config, executor, torch.float64, STEPS)
    # Where the class makes its state with the placed factories, the placement took place (the
    # threshold is 0): no vacuous pass through torch's own factories.
    made_here = any(name in inspect.getsource(type(ours)._init_state) for name in ("state_zeros", "state_full"))
    if made_here and _state_tensors(ours):  # (SGD without momentum keeps none)
        assert any(t.storage_offset() > 0 for t in _state_tensors(ours))


def test_every_state_tensor_of_a_large_parameter_starts_at_its_own_offset() -> None:
    w = nn.Parameter(torch.randn(1 << 20))  # 4 MiB of float32: the threshold
    opt = ok.Adam([w], amsgrad=True)
    w.grad = torch.randn_like(w)
    opt.step()
    moments = [opt.state[w][key] for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")]
    offsets = [m.storage_offset() * m.element_size() for m in moments]
    assert offsets == [_placement.STEP_BYTES, 2 * _placement.STEP_BYTES, 3 * _placement.STEP_BYTES]
    for m in moments:
        assert m.shape == w.shape and m.stride() == w.stride() and m.dtype == w.dtype
        # As much padding after the tensor as before it, and zeros (it is saved with the tensor),
        # not uninitialised memory.
        pad = m.storage_offset()
        assert m.untyped_storage().nbytes() == (m.numel() + 2 * pad) * m.element_size()
        assert torch.equal(m.as_strided((pad,), (1,), 0), torch.zeros(pad))
        assert torch.equal(m.as_strided((pad,), (1,), pad + m.numel()), torch.zeros(pad))


def test_a_large_parameter_steps_as_torchs_does() -> None:
    """Bitwise, through torch's fused kernel (optimkit's default on CPU) and its for-loop."""
    for kwargs in ({}, {"foreach": False}):
        ours_w = nn.Parameter(torch.randn(1 << 20, generator=torch.Generator().manual_seed(0)))
        torch_w = nn.Parameter(ours_w.detach().clone())
        ours = ok.AdamW([ours_w], **kwargs)
        theirs = torch.optim.AdamW([torch_w], fused=not kwargs, **kwargs)
        for step in range(3):
            g = torch.randn(ours_w.shape, generator=torch.Generator().manual_seed(step + 1))
            ours_w.grad, torch_w.grad = g, g.clone()
            ours.step()
            theirs.step()
        assert ours.state[ours_w]["exp_avg"].storage_offset() > 0
        assert torch.equal(ours_w, torch_w)
        assert torch.equal(ours.state[ours_w]["exp_avg_sq"], theirs.state[torch_w]["exp_avg_sq"])


def test_small_state_is_allocated_as_torch_allocates_it() -> None:
    w = nn.Parameter(torch.randn((1 << 20) - 1))  # one element under 4 MiB
    opt = ok.Adam([w])
    w.grad = torch.ones_like(w)
    opt.step()
    assert all(t.storage_offset() == 0 for t in _state_tensors(opt))


class _Marked(torch.Tensor):
    """A tensor subclass, as DTensor is one: its state must come from its own factories."""


def test_tensor_subclasses_and_other_layouts_keep_torchs_factories(place_everything: None) -> None:
    marked = torch.randn(8, 8).as_subclass(_Marked)
    assert type(_placement.state_zeros(marked, slot=0)) is _Marked
    assert _placement.state_zeros(marked, slot=0).storage_offset() == 0
    channels_last = torch.randn(2, 3, 4, 4).to(memory_format=torch.channels_last)
    placed = _placement.state_zeros(channels_last, slot=0)
    assert placed.stride() == channels_last.stride() and placed.storage_offset() == 0
    assert _placement.state_zeros(torch.randn(8, device="meta"), slot=0).device.type == "meta"
    assert _placement.state_zeros(torch.randn(8), slot=1).storage_offset() > 0


def test_a_placed_checkpoint_loads_into_torch_and_survives_torch_save() -> None:
    w = nn.Parameter(torch.randn(1 << 20, generator=torch.Generator().manual_seed(3)))
    # The for-loop on both sides: a checkpoint carries its group options, `fused` included.
    ours = ok.Adam([w], lr=1e-2, foreach=False)
    for step in range(2):
        w.grad = torch.randn(w.shape, generator=torch.Generator().manual_seed(step))
        ours.step()
    buffer = io.BytesIO()
    torch.save(ours.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)
    assert torch.equal(loaded["state"][0]["exp_avg"], ours.state[w]["exp_avg"])
    torch_w = nn.Parameter(w.detach().clone())
    theirs = torch.optim.Adam([torch_w], lr=1e-2, foreach=False)
    theirs.load_state_dict(loaded)
    g = torch.randn(w.shape, generator=torch.Generator().manual_seed(9))
    w.grad, torch_w.grad = g, g.clone()
    ours.step()
    theirs.step()
    assert torch.equal(w, torch_w)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_placed_flat_buffers_train_to_the_same_bits(name: str, place_everything: None) -> None:
    def model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 64))

    plain, flat = model(), model()
    buffers = optimkit.flatten_parameters(flat)
    assert all(b.data.storage_offset() != b.grad.storage_offset() for b in buffers)
    kwargs = {"lr": 0.01, **({"momentum": 0.9} if name != "adam" else {})}
    cls = {"adam": ok.Adam, "sgd": ok.SGD, "rmsprop": ok.RMSprop}[name]
    optimizers = [cls(m.parameters(), **kwargs) for m in (plain, flat)]
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    for _ in range(10):
        for m, opt in zip((plain, flat), optimizers):
            opt.zero_grad()
            m(x).square().mean().backward()
            opt.step()
    for p, q in zip(plain.parameters(), flat.parameters()):
        assert torch.equal(p, q)
    # The flat state buffers are placed too: none starts where the parameter buffer does.
    flat_state = [t for t in _state_tensors(optimizers[1]) if t.untyped_storage().data_ptr()
                  != buffers[0].data.untyped_storage().data_ptr()]
    assert all(t.storage_offset() > 0 for t in flat_state)


def test_loading_a_checkpoint_places_its_large_moments_again() -> None:
    """A checkpoint of torch.optim (or of an optimkit before the placement) comes back from
    torch.load with a storage per tensor, allocated one after another: loaded into optimkit, its
    large moments are placed, with the same values, and the resumed run is the saved run's."""
    w = nn.Parameter(torch.randn(1 << 20, generator=torch.Generator().manual_seed(4)))
    small = nn.Parameter(torch.randn(8))
    source = torch.optim.Adam([w, small], lr=1e-2, foreach=False)
    for step in range(2):
        w.grad = torch.randn(w.shape, generator=torch.Generator().manual_seed(step))
        small.grad = torch.ones(8)
        source.step()
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)
    assert all(loaded["state"][0][k].storage_offset() == 0 for k in ("exp_avg", "exp_avg_sq"))

    resumed_w, resumed_small = nn.Parameter(w.detach().clone()), nn.Parameter(small.detach().clone())
    resumed = ok.Adam([resumed_w, resumed_small], lr=1e-2, foreach=False)
    resumed.load_state_dict(loaded)
    moments = [resumed.state[resumed_w][k] for k in ("exp_avg", "exp_avg_sq")]
    assert [m.storage_offset() * 4 for m in moments] == [_placement.STEP_BYTES, 2 * _placement.STEP_BYTES]
    for key, m in zip(("exp_avg", "exp_avg_sq"), moments):
        assert torch.equal(m, source.state[w][key])
    # Small state keeps the loaded tensor itself, as torch's loader leaves it.
    assert resumed.state[resumed_small]["exp_avg"] is loaded["state"][1]["exp_avg"]
    g = torch.randn(w.shape, generator=torch.Generator().manual_seed(7))
    for p, q, opt in ((w, small, source), (resumed_w, resumed_small, resumed)):
        p.grad, q.grad = g.clone(), torch.ones(8)
        opt.step()
    assert torch.equal(w, resumed_w) and torch.equal(small, resumed_small)


def test_an_optimkit_checkpoint_comes_back_placed() -> None:
    """torch.save keeps a placed tensor's storage, padding included, so torch.load brings it back
    at the same offset and loading keeps it as it is."""
    w = nn.Parameter(torch.randn(1 << 20))
    source = ok.Adam([w])
    w.grad = torch.ones_like(w)
    source.step()
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)
    target = ok.Adam([nn.Parameter(w.detach().clone())])
    target.load_state_dict(loaded)
    (state,) = target.state.values()
    assert state["exp_avg"] is loaded["state"][0]["exp_avg"]
    assert state["exp_avg"].storage_offset() * 4 == _placement.STEP_BYTES
