"""Which executor a step runs when the user names none, and that the flags still pick torch's paths.

The default CPU step of Adam, AdamW, SGD and Adagrad is torch's fused kernel (one pass over
memory instead of one per operation). The test database says so for each of them (the entry's
``rounding`` note): here that note is tied to the classes, the default is shown to *be* the fused
kernel (bitwise equal to ``fused=True``, and not to the loop), and ``foreach=False`` /
``fused=False`` are shown to stay bitwise torch's for-loop.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import optimkit.optim as ok
from tests._db import DB, DBEntry, cases
from tests._harness import build, clone_params, make_params, run_entry

STEPS = 20
FUSED_BY_DEFAULT = [entry for entry in DB.values() if "default" in entry.inputs.rounding]


def _trajectory(entry: DBEntry, config: dict[str, Any], dtype: torch.dtype, **flags: Any) -> list[torch.Tensor]:
    params = [torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(i)).requires_grad_()
              for i, shape in enumerate(entry.inputs.shapes)]
    optimizer = entry.cls(params, **config, **flags)
    run_entry(entry, optimizer, params, range(STEPS))
    return [p.detach() for p in params]


def test_rounding_notes_name_exactly_the_classes_that_fuse_by_default() -> None:
    declared = {entry.name for entry in FUSED_BY_DEFAULT}
    fusing = {entry.name for entry in DB.values() if getattr(entry.cls, "_fused_by_default", False)}
    assert declared == fusing == {"adam", "adamw", "sgd", "adagrad"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("entry,config", cases(executors=False, only=lambda e: "default" in e.inputs.rounding))
def test_default_is_the_fused_kernel(entry: DBEntry, config: dict[str, Any], dtype: torch.dtype) -> None:
    default = _trajectory(entry, config, dtype)
    fused = _trajectory(entry, config, dtype, fused=True)
    assert all(torch.equal(a, b) for a, b in zip(default, fused))


@pytest.mark.parametrize("entry", FUSED_BY_DEFAULT, ids=lambda e: e.name)
def test_default_rounds_otherwise_than_the_loop(entry: DBEntry) -> None:
    # Over 20 float32 steps the fused kernel's order of operations shows in some last bit: proof
    # that the default is not the loop under another name.
    config = {"lr": 0.01, "momentum": 0.9} if entry.name == "sgd" else {"lr": 0.01}
    default = _trajectory(entry, config, torch.float32)
    loop = _trajectory(entry, config, torch.float32, foreach=False)
    assert any(not torch.equal(a, b) for a, b in zip(default, loop))
    torch.testing.assert_close(default, loop, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("flags", [{"foreach": False}, {"fused": False}], ids=["foreach=False", "fused=False"])
@pytest.mark.parametrize("entry,config", cases(executors=False, only=lambda e: "default" in e.inputs.rounding))
def test_explicit_flags_keep_torchs_loop_bitwise(entry: DBEntry, config: dict[str, Any], flags: dict[str, Any]) -> None:
    # Real parameters: for complex ones our loop steps real views, torch's SGD loop complex numbers.
    ours_params = [p for p in make_params(entry, torch.float32) if not p.is_complex()]
    torch_params = clone_params(ours_params)
    ours = build(entry.cls, entry, ours_params, {**config, **flags}, "default")
    theirs = build(entry.reference_cls(), entry, torch_params, config, "default")
    run_entry(entry, ours, ours_params, range(STEPS))
    run_entry(entry, theirs, torch_params, range(STEPS))
    assert all(torch.equal(a, b) for a, b in zip(ours_params, torch_params))


def _loop_equals_default(make: Any, params: list[torch.Tensor], steps: int = 5) -> bool:
    twins = clone_params(params)
    default, loop = make(params, {}), make(twins, {"foreach": False})
    for step in range(steps):
        generator = torch.Generator().manual_seed(step)
        for p, q in zip(params, twins):
            p.grad = torch.randn(p.shape, dtype=p.dtype, generator=generator)
            q.grad = p.grad.clone()
        default.step()
        loop.step()
    return all(torch.equal(p, q) for p, q in zip(params, twins))


@pytest.mark.parametrize(
    "case",
    ["bfloat16", "complex", "differentiable", "tensor_lr_with_grad", "capturable"],
)
def test_default_stays_the_loop_where_fusing_would_change_the_numbers(case: str) -> None:
    # The fused kernels compute half and bfloat16 in float32; complex numbers, autograd through
    # the step and capturable steps are not theirs.
    dtype = {"bfloat16": torch.bfloat16, "complex": torch.complex64}.get(case, torch.float32)
    params = [torch.randn(4, 3, dtype=dtype, generator=torch.Generator().manual_seed(0))]
    options: dict[str, Any] = {"lr": 0.01}
    if case == "differentiable":
        options["differentiable"] = True
    if case == "tensor_lr_with_grad":
        options.update(lr=torch.tensor(0.01, requires_grad=True), differentiable=True)
    if case == "capturable":
        options["capturable"] = True

    def make(ps: list[torch.Tensor], flags: dict[str, Any]) -> torch.optim.Optimizer:
        return ok.Adam(ps, **options, **flags)

    optimizer = make(params, {})
    params[0].grad = torch.ones_like(params[0])
    assert not optimizer._runs_fused(optimizer.param_groups[0], params)
    params[0].grad = None
    if case in ("bfloat16", "complex"):  # the others cannot step on plain CPU leaves at all
        assert _loop_equals_default(make, params)


def test_cerebras_classes_keep_their_loop() -> None:
    import optimkit.cerebras.optim as cs

    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.ones(3)
    for optimizer in (cs.Adam([p], lr=0.1), cs.AdamW([p], lr=0.1), cs.SGD([p], lr=0.1), cs.Adagrad([p], lr=0.1)):
        assert not optimizer._runs_fused(optimizer.param_groups[0], [p]), type(optimizer).__name__


def test_default_fused_state_is_torchs_default_state() -> None:
    # The fused kernel runs on the for-loop's state: a CPU step counter in the default dtype, so
    # checkpoints look exactly like torch's default ones.
    ours_p, torch_p = torch.randn(3, requires_grad=True), None
    torch_p = ours_p.detach().clone().requires_grad_()
    ours, theirs = ok.Adam([ours_p]), torch.optim.Adam([torch_p])
    for p in (ours_p, torch_p):
        p.grad = torch.ones(3)
    ours.step()
    theirs.step()
    for key, value in theirs.state[torch_p].items():
        assert ours.state[ours_p][key].dtype == value.dtype and ours.state[ours_p][key].device == value.device
    assert ours.state_dict()["param_groups"] == theirs.state_dict()["param_groups"]


# ------------------------------------------------------------------- fused=True compiled (optimkit's own)
COMPILED = [entry for entry in DB.values() if "fused" in getattr(entry.cls, "_own_options", ())]


def test_rounding_notes_name_every_fused_executor() -> None:
    fused = {entry.name for entry in DB.values() if "fused" in entry.executors()}
    noted = {entry.name for entry in DB.values() if "fused" in entry.inputs.rounding}
    assert fused == noted
    assert {entry.name for entry in COMPILED} == {
        "adadelta", "adamax", "asgd", "nadam", "radam", "rmsprop", "rprop", "lion", "adabelief"}


@pytest.mark.parametrize("entry", COMPILED, ids=lambda e: e.name)
def test_compiled_fused_is_an_own_option_invisible_unless_given(entry: DBEntry) -> None:
    p = torch.zeros(3, requires_grad=True)
    plain, fused = entry.cls([p]), entry.cls([p], fused=True)
    assert "fused" not in plain.param_groups[0] and "fused" not in plain.defaults
    assert fused.param_groups[0]["fused"] is True
    assert not entry.spec.supports_fused  # the registry's flag means torch's kernels
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        entry.cls([p], fused=True, foreach=True)
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        entry.cls([p], fused=True, differentiable=True)
    if entry.spec.torch_name is not None:
        # A checkpoint of a compiled-fused optimizer loads into torch's class.
        p.grad = torch.ones(3)
        fused.step()
        theirs = getattr(torch.optim, entry.spec.torch_name)([p])
        theirs.load_state_dict(fused.state_dict())


@pytest.mark.parametrize("entry", [e for e in COMPILED if e.name in ("rmsprop", "nadam", "lion")], ids=lambda e: e.name)
def test_compiled_fused_does_not_recompile_under_a_scheduler(entry: DBEntry) -> None:
    from torch._dynamo.utils import counters

    from optimkit.optim.lr_scheduler import OneCycleLR

    params = [torch.randn(64, 8, requires_grad=True), torch.randn(8, requires_grad=True)]
    optimizer = entry.cls(params, lr=0.01, fused=True)
    scheduler = OneCycleLR(optimizer, max_lr=0.05, total_steps=20, cycle_momentum=False)
    lrs = set()
    for step in range(12):
        for p in params:
            p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(step))
        optimizer.step()
        scheduler.step()
        lrs.add(optimizer.param_groups[0]["lr"])
        if step == 1:
            graphs = counters["stats"]["unique_graphs"]
    assert len(lrs) > 10
    assert counters["stats"]["unique_graphs"] == graphs


# A tensor past the per-tensor executor's threshold for stepping in pieces (4 pieces of 2^20 and a
# remainder that is not a multiple of any vector width), and one below it.
_PIECED_SHAPES = ((2053, 2053), (37, 5))
_PIECED_CASES: dict[str, dict[str, Any]] = {
    "SGD": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1, "foreach": False},
    "Adam": {"amsgrad": True, "weight_decay": 0.1, "foreach": False},
    "AdamW": {"foreach": False},
    "Adamax": {"weight_decay": 0.01},
    "Adadelta": {"weight_decay": 0.01},
    "Adagrad": {"lr_decay": 0.01, "foreach": False},
    "ASGD": {"t0": 2, "weight_decay": 0.01},
    "NAdam": {"decoupled_weight_decay": True, "weight_decay": 0.1},
    "RAdam": {"weight_decay": 0.1},
    "RMSprop": {"momentum": 0.9, "centered": True, "weight_decay": 0.1},
    "Rprop": {},
}


@pytest.mark.parametrize("name", sorted(_PIECED_CASES))
def test_large_tensors_step_in_pieces_with_torchs_numbers(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from optimkit.optim import _pieces

    calls: list[int] = []
    pieces = _pieces.cache_sized_pieces

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = pieces(*args, **kwargs)
        calls.append(len(out[0]))
        return out

    monkeypatch.setattr(_pieces, "cache_sized_pieces", counting)
    generator = torch.Generator().manual_seed(3)
    base = [torch.randn(shape, generator=generator) for shape in _PIECED_SHAPES]
    ours = [b.clone().requires_grad_() for b in base]
    theirs = [b.clone().requires_grad_() for b in base]
    kwargs = _PIECED_CASES[name]
    opt, reference = getattr(ok, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(3):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn(a.shape, generator=generator)
            b.grad = a.grad.clone()
        opt.step()
        reference.step()
    assert calls and calls[-1] == 5 + 1  # the large tensor in 5 pieces, the small one whole
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
        for key, value in reference.state[b].items():
            assert torch.equal(opt.state[a][key], value), key


# ------------------------------------------------------------------------------------------------
# The per-tensor loop's shortcuts give torch's numbers bit for bit


_NUMBERS = (0.9, 0.999, 1 - 1e-4, 1e-8, -0.01, 1 / 3, 3.5e-7, 65504.5, 1e30, 1e-30, 1e39, 1e-45, 1.0, 0.0, -0.0,
            float("inf"), float("-inf"), float("nan"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("method", ["add_", "sub_", "mul_", "div_", "add", "mul", "div"])
def test_number_operands_give_the_kernels_the_numbers(method: str, dtype: torch.dtype) -> None:
    # LoopOps hands a Python float to a binary kernel as a cached 0-dim tensor (no new wrapped
    # tensor per call): same result, bit for bit, over magnitudes from subnormal to overflow.
    from optimkit.optim._executor import LoopOps

    generator = torch.Generator().manual_seed(0)
    magnitudes = torch.logspace(-40, 40, 97, dtype=torch.float64)
    base = (torch.randn(97, dtype=torch.float64, generator=generator) * magnitudes).to(dtype)
    base[:3] = torch.tensor([0.0, -0.0, float("nan")], dtype=dtype)
    ops = LoopOps()
    for number in _NUMBERS * 2:  # twice: the second time from the cache
        ours, theirs = base.clone(), base.clone()
        result = getattr(ops, method)([ours], number)
        expected = getattr(theirs, method)(number)
        got = ours if method.endswith("_") else result[0]
        want = theirs if method.endswith("_") else expected
        assert got.dtype == want.dtype
        # Bit patterns: NaN payloads and the signs of zeros included.
        assert torch.equal(got.view(torch.int16 if dtype.itemsize == 2 else
                                    torch.int32 if dtype.itemsize == 4 else torch.int64),
                           want.view(torch.int16 if dtype.itemsize == 2 else
                                     torch.int32 if dtype.itemsize == 4 else torch.int64)), (method, number)


def _loop_by_default(entry: DBEntry) -> bool:
    """Element-wise classes whose default CPU step is the per-tensor loop, checked against torch."""
    return (entry.namespace == "optim" and getattr(entry.cls, "_elementwise", False)
            and entry.inputs.reference is None and "default" not in entry.inputs.rounding)


def _plain_config(config: dict[str, Any]) -> bool:
    return not any(config.get(flag) for flag in ("capturable", "differentiable", "foreach", "fused"))


# Tensors that share a rule call (the small ones, packed) and tensors with a call of their own.
_LOOP_SHAPES = ((300, 250), (7,), (33, 3), (70000,), (1,), (5, 4))


# Not float16: there torch's own for-loop does not repeat itself bit for bit (three runs of
# torch.optim.NAdam or RMSprop with weight_decay=0.01 on the same 1000 float16 inputs, CPU, torch
# 2.13: three different results after three steps).
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("entry,config", cases(executors=False, only=_loop_by_default))
def test_default_loop_is_torchs_loop_bitwise(entry: DBEntry, config: dict[str, Any], dtype: torch.dtype) -> None:
    # The default per-tensor executor runs torch's kernels on torch's operands in torch's order
    # (shortcuts included: runs of small tensors, cached numbers and counters): the same bits
    # as torch's for-loop, in every floating dtype, not only within a tolerance.
    if not _plain_config(config):
        pytest.skip("capturable/differentiable/explicit executors: other paths, compared elsewhere")
    generator = torch.Generator().manual_seed(1)
    base = [torch.randn(shape, generator=generator).to(dtype) for shape in _LOOP_SHAPES]
    ours = [b.clone().requires_grad_() for b in base]
    theirs = [b.clone().requires_grad_() for b in base]
    opt, reference = build(entry.cls, entry, ours, config, "default"), build(
        entry.reference_cls(), entry, theirs, config, "default")
    for _ in range(4):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn(a.shape, generator=generator).to(dtype)
            b.grad = a.grad.clone()
        opt.step()
        reference.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
        for key, value in reference.state[b].items():
            mine = opt.state[a][key]
            assert torch.equal(mine, value) and mine.dtype == value.dtype, key


@pytest.mark.parametrize("name", ["Adamax", "ASGD", "NAdam", "RMSprop"])
def test_cached_operands_stay_on_the_cpu_whatever_the_default_device(name: str) -> None:
    # The cached number tensors (the counters' 1 among them) are made on the CPU explicitly:
    # under `with torch.device(...)` a factory call would otherwise put them elsewhere. (torch's
    # own Adamax, ASGD and NAdam fail there, making their step counters on the default device:
    # the reference steps outside the context.)
    from optimkit.optim import _executor

    _executor._number_tensors.clear()
    p = torch.nn.Parameter(torch.randn(6))
    q = p.detach().clone().requires_grad_()
    opt, reference = getattr(ok, name)([p]), getattr(torch.optim, name)([q])
    for _ in range(3):
        p.grad = torch.randn(6)
        q.grad = p.grad.clone()
        with torch.device("meta"):
            opt.step()
        reference.step()
    assert p.device.type == "cpu" and torch.equal(p, q)
