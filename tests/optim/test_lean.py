"""Memory-lean optimizer state (``state_dtype``) and stochastic rounding (``optimkit.optim._lean``).

Oracles: the full-precision optimizer of the same class (agreement within a stated tolerance
over the first steps), the float32 arithmetic of each code (quantization error bounds), and an
uninterrupted run (exact resume).
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

import optimkit
import optimkit.optim as ok
from optimkit.optim import _lean
from optimkit.optim._lean import (
    BLOCK,
    convert_state,
    dequantize,
    dynamic_map,
    quantize,
    state_bytes,
    stochastic_round_,
)

from tests._db import DB


def _lean_classes() -> dict[str, tuple[type[ok.Optimizer], dict[str, Any]]]:
    """Every class of the test database that keeps compact state, with the configuration of its
    entry under which it creates the most of those states (SGD needs momentum, Adam amsgrad)."""
    found = {}
    for name, entry in DB.items():
        lean = getattr(entry.cls, "_lean_states", {})
        if not lean:
            continue

        def created(config: dict[str, Any]) -> int:
            w = torch.nn.Parameter(torch.zeros(3))
            opt = entry.cls([w], **config)
            opt.preinitialize()
            return len(lean.keys() & opt.state[w].keys())

        found[name] = (entry.cls, max(entry.inputs.configs, key=created))
    return found


LEAN_CLASSES = _lean_classes()
STATE_DTYPES = (torch.bfloat16, "int8")
# A matrix larger than one expansion piece (2^18 entries) whose size is no multiple of BLOCK, a
# vector and a scalar-like tensor.
SHAPES = ((641, 419), (70,), (5,))


def _params(seed: int = 0, dtype: torch.dtype = torch.float32) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=dtype)) for shape in SHAPES]


def _train(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], steps: int, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        opt.step()


# ------------------------------------------------------------------------------ 8-bit codes
@pytest.mark.parametrize("signed", [True, False])
def test_dynamic_map_is_sorted_unique_and_spans_zero_to_one(signed: bool) -> None:
    table = dynamic_map(signed)
    assert torch.all(table[1:] > table[:-1])
    assert table.max().item() == 1.0 and (table.min().item() == (-1.0 if signed else 0.0))
    assert len(table) <= 256 and 0.0 in table.tolist()


@pytest.mark.parametrize("signed", [True, False])
def test_round_trip_error_is_at_most_half_a_gap_of_the_table_times_the_block_scale(signed: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    # Blocks of very different scales, including magnitudes spread over several decades.
    x = torch.randn(BLOCK * 40 + 17, generator=generator) * torch.logspace(-6, 2, BLOCK * 40 + 17)
    x = x if signed else x.square()
    codes, scales = quantize(x, signed)
    assert codes.dtype == torch.uint8 and codes.shape == x.shape and scales.shape == (41,)
    back = dequantize(codes, scales, signed)
    table = dynamic_map(signed)
    normalized = x / torch.repeat_interleave(scales, BLOCK)[: x.numel()]
    # For each entry: the gap between the two table values around it (half of it bounds the error).
    above = torch.bucketize(normalized, table).clamp(1, len(table) - 1)
    gap = table[above] - table[above - 1]
    bound = gap / 2 * torch.repeat_interleave(scales, BLOCK)[: x.numel()]
    if not signed:
        # A non-zero entry below the smallest value is stored as the smallest value (never 0).
        bound = torch.maximum(bound, table[1] * torch.repeat_interleave(scales, BLOCK)[: x.numel()])
    assert torch.all((back - x).abs() <= bound * (1 + 1e-5) + 1e-30)
    # Each block's largest magnitude is kept exactly (the table ends at 1).
    rows = torch.cat([x, x.new_zeros(-x.numel() % BLOCK)]).view(-1, BLOCK)
    largest = rows.abs().argmax(1) + torch.arange(rows.shape[0]) * BLOCK
    largest = largest[largest < x.numel()]
    assert torch.equal(back[largest].abs(), x[largest].abs())


@pytest.mark.parametrize("signed", [True, False])
def test_codes_are_the_nearest_table_values(signed: bool) -> None:
    """The bucket lookup of quantize against a plain search of the sorted table: the value read
    back is the table value nearest to the normalized entry (ties apart, which random data lacks)."""
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(BLOCK * 64, generator=generator) * torch.logspace(-9, 0, BLOCK * 64)
    x = x if signed else x.abs()
    codes, scales = quantize(x, signed)
    table = dynamic_map(signed)
    normalized = x / torch.repeat_interleave(scales, BLOCK)
    nearest = table[(normalized.unsqueeze(1) - table).abs().argmin(dim=1)]
    if not signed:
        nearest = torch.where((nearest == 0) & (normalized > 0), table[1], nearest)
    assert torch.equal(dequantize(codes, torch.ones_like(scales), signed), nearest)  # the table values chosen


def test_table_values_round_trip_exactly_and_code_zero_is_value_zero() -> None:
    for signed in (True, False):
        table = dynamic_map(signed)
        codes, scales = quantize(table, signed)
        assert torch.equal(dequantize(codes, scales, signed), table)
        assert dequantize(torch.zeros(3, dtype=torch.uint8), torch.ones(1), signed).tolist() == [0.0, 0.0, 0.0]


def test_second_moment_codes_never_turn_a_positive_entry_into_zero() -> None:
    x = torch.tensor([1.0, 1e-12, 3e-9, 0.0])
    back = dequantize(*quantize(x, signed=False), signed=False)
    assert back[3] == 0 and torch.all(back[:3] > 0)


# ------------------------------------------------------------------------- the optimizers
@pytest.mark.parametrize("state_dtype", STATE_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(LEAN_CLASSES))
def test_compact_state_follows_full_precision_over_the_first_steps(name: str, state_dtype: Any) -> None:
    """Within 3% (bfloat16: 1%) of the distance the full-precision run travelled, per tensor (L2),
    after 15 steps; Lion's sign makes single coordinates flip, so its bound is 10%."""
    cls, options = LEAN_CLASSES[name]
    start = _params()
    full_params, lean_params = _params(), _params()
    _train(cls(full_params, **options), full_params, 15)
    lean = cls(lean_params, **options, state_dtype=state_dtype)
    _train(lean, lean_params, 15)
    tolerance = (0.10 if name == "lion" else 0.03) / (3 if state_dtype is torch.bfloat16 else 1)
    for p0, full, compact in zip(start, full_params, lean_params):
        travelled = (full - p0).norm()
        assert (compact - full).norm() <= tolerance * travelled, name
    state = lean.state[lean_params[0]]
    for key, signed in cls._lean_states.items():
        if key not in state:
            continue
        if state_dtype == "int8":
            assert state[key].dtype == torch.uint8 and state[key].shape == lean_params[0].shape
            assert state[key + "_absmax"].dtype == torch.float32
            assert state[key + "_absmax"].shape == (-(-lean_params[0].numel() // BLOCK),)
        else:
            assert state[key].dtype == torch.bfloat16


@pytest.mark.parametrize("state_dtype", STATE_DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(LEAN_CLASSES))
def test_resume_from_a_saved_state_dict_is_exact(name: str, state_dtype: Any) -> None:
    cls, options = LEAN_CLASSES[name]
    through = _params()
    uninterrupted = cls(through, **options, state_dtype=state_dtype)
    _train(uninterrupted, through, 6)
    resumed_params = _params()
    first = cls(resumed_params, **options, state_dtype=state_dtype)
    _train(first, resumed_params, 3)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # the compact form is plain tensors and strings
    second = cls(resumed_params, **options)  # the options come from the checkpoint, as in torch
    second.load_state_dict(saved)
    assert second.param_groups[0].get("state_dtype") == _lean.lean_state_dtype(state_dtype)
    for key, value in first.state[resumed_params[0]].items():
        assert second.state[resumed_params[0]][key].dtype == value.dtype, key
    # The rest of the run: steps 4-6 with the same gradients as the uninterrupted run.
    generator = torch.Generator().manual_seed(1)
    for step in range(6):
        grads = [torch.randn(p.shape, generator=generator) for p in resumed_params]
        if step < 3:
            continue
        for p, g in zip(resumed_params, grads):
            p.grad = g
        second.step()
    for a, b in zip(through, resumed_params):
        assert torch.equal(a, b)
    for a, b in zip(through, resumed_params):
        for key, value in uninterrupted.state[a].items():
            assert torch.equal(second.state[b][key], value), key


def test_bfloat16_parameters_keep_float32_scales_through_load_state_dict() -> None:
    params = [torch.nn.Parameter(torch.randn(600, dtype=torch.bfloat16))]
    opt = ok.AdamW(params, state_dtype="int8")
    _train(opt, params, 2)
    again = ok.AdamW(params, state_dtype="int8")
    again.load_state_dict(opt.state_dict())
    for key in ("exp_avg_absmax", "exp_avg_sq_absmax"):
        assert again.state[params[0]][key].dtype == torch.float32
        assert torch.equal(again.state[params[0]][key], opt.state[params[0]][key])


def test_convert_state_to_full_precision_loads_into_torch_and_back_into_int8() -> None:
    params = _params()
    opt = ok.AdamW(params, state_dtype="int8")
    _train(opt, params, 3)
    expanded = {key: _lean._expanded(opt.state[params[0]], key, signed, torch.float32)
                for key, signed in ok.AdamW._lean_states.items() if key in opt.state[params[0]]}
    convert_state(opt, torch.float32)
    assert "state_dtype" not in opt.param_groups[0]
    for key, value in expanded.items():
        assert torch.equal(opt.state[params[0]][key], value)
    reference = torch.optim.AdamW(params)
    reference.load_state_dict(opt.state_dict())
    convert_state(opt, "int8")
    assert opt.param_groups[0]["state_dtype"] == "int8"
    assert opt.state[params[0]]["exp_avg"].dtype == torch.uint8
    _train(opt, params, 1)


def test_state_bytes_of_int8_adamw_is_at_most_three_tenths_of_float32() -> None:
    params = _params()
    full, bf16, int8 = ok.AdamW(params), ok.AdamW(params, state_dtype=torch.bfloat16), ok.AdamW(params, state_dtype="int8")
    for opt in (full, bf16, int8):
        _train(opt, params, 1)
    elements = sum(p.numel() for p in params)
    assert state_bytes(full) == 8 * elements + 4 * len(params)
    assert state_bytes(bf16) / state_bytes(full) < 0.51
    assert state_bytes(int8) / state_bytes(full) < 0.26
    assert optimkit.state_bytes is state_bytes


def test_torchs_optimizers_are_measured_too() -> None:
    params = _params()
    opt = torch.optim.Adam(params)
    _train(opt, params, 1)
    assert state_bytes(opt) == 8 * sum(p.numel() for p in params) + 4 * len(params)


def test_pieces_give_the_numbers_of_the_whole_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for piece in (1 << 18, 1 << 30):
        monkeypatch.setattr(_lean, "_PIECE", piece)
        params = _params()
        opt = ok.AdamW(params, state_dtype="int8")
        _train(opt, params, 3)
        results.append((params, opt.state[params[0]]))
    (a, state_a), (b, state_b) = results
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)


def test_a_sparsity_mask_multiplied_into_the_codes_zeroes_the_entries() -> None:
    params = _params()
    opt = ok.Adam(params, amsgrad=True, state_dtype="int8")
    _train(opt, params, 2)
    state = opt.state[params[0]]
    mask = torch.rand(params[0].shape) > 0.5
    for name in opt.state_names_to_sparsify():
        state[name].mul_(mask)
        values = dequantize(state[name], state[name + "_absmax"], ok.Adam._lean_states[name])
        assert torch.all(values[~mask] == 0)


def test_masks_zero_the_moments_of_bfloat16_state_too() -> None:
    assert ok.AdamW(_params(), state_dtype="bf16").state_names_to_sparsify() == ["exp_avg", "exp_avg_sq"]


# ------------------------------------------------------------------- stochastic rounding
def test_stochastic_rounding_is_unbiased_and_keeps_nan() -> None:
    values = torch.full((200_000,), 1.0 + 3 * 2**-10)  # 3/8 of the way to the next bfloat16
    target = torch.empty(200_000, dtype=torch.bfloat16)
    torch.manual_seed(0)
    stochastic_round_(target, values)
    assert set(target.float().unique().tolist()) == {1.0, 1.0 + 2**-7}
    assert abs(target.float().mean().item() - values[0].item()) < 1e-4
    both = torch.tensor([float("nan"), float("inf"), -float("inf"), -2.5])
    out = torch.empty(4, dtype=torch.bfloat16)
    stochastic_round_(out, both)
    assert torch.isnan(out[0]) and out[1] == float("inf") and out[2] == -float("inf") and out[3] == -2.5


def test_stochastic_rounding_lets_small_updates_move_bfloat16_weights() -> None:
    """Updates of a tenth of a bfloat16 unit: rounding to nearest drops them all, stochastic
    rounding moves the weights by their sum on average (float32 run as the reference)."""
    torch.manual_seed(0)
    results = {}
    for label, options, dtype in (("nearest", {}, torch.bfloat16), ("stochastic", {"stochastic_rounding": True}, torch.bfloat16),
                                  ("float32", {}, torch.float32)):
        w = torch.nn.Parameter(torch.ones(4096, dtype=dtype))
        opt = ok.SGD([w], lr=2**-7 / 10, **options)  # a tenth of bfloat16's unit at 1.0
        for _ in range(50):
            w.grad = torch.full_like(w, -1.0)
            opt.step()
        results[label] = w.float().mean().item()
    assert results["nearest"] == 1.0
    assert abs(results["stochastic"] - results["float32"]) < 0.02 * (results["float32"] - 1.0)


# ---------------------------------------------------------------------------------- errors
def test_the_database_covers_the_classes_that_take_state_dtype() -> None:
    assert sorted(LEAN_CLASSES) == ["adam", "adamw", "lamb", "lion", "sgd"]
    for name, (cls, config) in LEAN_CLASSES.items():
        # Only per-entry moments can be compact: each is a state shaped like its parameter.
        opt = cls(_params(), **config)
        assert set(cls._lean_states) <= set(opt.state_names_to_sparsify()), name


@pytest.mark.parametrize("bad", ["int4", torch.float16, 8])
def test_unknown_state_dtype_names_the_argument(bad: Any) -> None:
    with pytest.raises(ValueError, match="state_dtype must be None, torch.float32, torch.bfloat16 or 'int8'"):
        ok.AdamW(_params(), state_dtype=bad)


@pytest.mark.parametrize("flag", ["foreach", "fused", "capturable", "differentiable"])
def test_state_dtype_refuses_the_other_executors(flag: str) -> None:
    with pytest.raises(ValueError, match=f"state_dtype .* cannot be combined with {flag}=True"):
        ok.Adam(_params(), state_dtype="int8", **{flag: True})


def test_full_precision_spelled_out_is_the_default_optimizer() -> None:
    opt = ok.AdamW(_params(), state_dtype=torch.float32)
    assert "state_dtype" not in opt.param_groups[0]
    assert list(opt.defaults) == list(torch.optim.AdamW(_params()).defaults)


def test_config_names_the_state_dtype_as_a_string() -> None:
    from optimkit.config import load

    opt, _ = load({"optimizer": {"name": "AdamW", "lr": 1e-3, "state_dtype": "int8"}}, _params())
    assert opt.param_groups[0]["state_dtype"] == "int8"
    opt, _ = load({"optimizer": {"name": "Lion", "state_dtype": "bfloat16"}}, _params())
    assert opt.param_groups[0]["state_dtype"] is torch.bfloat16


@pytest.mark.parametrize("state_dtype", STATE_DTYPES, ids=str)
def test_sparsity_keeps_pruned_entries_zero_in_compact_moments(state_dtype: Any) -> None:
    from optimkit import sparsity

    params = _params()
    opt = ok.AdamW(params, state_dtype=state_dtype)
    pruning = sparsity.configure(opt, {"algorithm": "static", "sparsity": 0.7})
    generator = torch.Generator().manual_seed(1)
    for _ in range(4):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        opt.step()
        pruning.step()
    w = params[0]
    kept = pruning.masks[w]
    assert torch.all(w[~kept] == 0)
    for name in opt.state_names_to_sparsify():
        values = _lean._expanded(opt.state[w], name, ok.AdamW._lean_states[name], torch.float32)
        assert torch.all(values[~kept] == 0), name
        assert torch.any(values[kept] != 0), name


def test_cerebras_style_config_takes_state_dtype_at_its_key() -> None:
    from optimkit.config import ConfigError, load

    section = {"optimizer_type": "AdamW", "learning_rate": 1e-3, "state_dtype": "int8"}
    opt, _ = load({"optimizer": section}, _params())
    assert opt.param_groups[0]["state_dtype"] == "int8" and section["state_dtype"] == "int8"
    assert all(state["exp_avg"].dtype == torch.uint8 for state in opt.state.values())  # created at once
    nested = {"optimizer": {"optimizer_type": "Lion", "optim_params": {"state_dtype": "bf16"}}}
    assert load(nested, _params())[0].param_groups[0]["state_dtype"] is torch.bfloat16
    with pytest.raises(ConfigError, match="state_dtype must be None") as bad:
        load({"optimizer": {"optimizer_type": "AdamW", "state_dtype": "int4"}}, _params())
    assert bad.value.path == ("optimizer", "state_dtype")
    with pytest.raises(ConfigError, match="Adadelta keeps no moments to compact"):
        load({"optimizer": {"optimizer_type": "Adadelta", "state_dtype": "int8"}}, _params())
