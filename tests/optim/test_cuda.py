"""The GPU paths: every executor on CUDA against torch.optim on CUDA, capturable steps, flat
buffers and the benchmark's ``--device cuda``. Skipped on a machine without CUDA (CI); run them
where a GPU is lent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import optimkit
from tests._db import DBEntry, cases
from tests._harness import assert_params_close, assert_states_close, build, grads_at, load_script

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

DEVICE = "cuda"
STEPS = 12


def _torch_oracle(entry: DBEntry) -> bool:
    """Entries checked against torch.optim itself (not a reference written out on the CPU), with
    dense gradients and no closure."""
    return (entry.namespace == "optim" and entry.inputs.reference is None and not entry.inputs.sparse_grads
            and not entry.inputs.needs_closure)


def _params(entry: DBEntry, dtype: torch.dtype, executor: str) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    shapes = list(entry.inputs.shapes)
    params = [torch.randn(shape, dtype=dtype, generator=generator) for shape in shapes]
    if entry.spec.supports_complex and executor != "fused":
        complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        params.append(torch.randn((3, 2), dtype=complex_dtype, generator=generator))
    return [p.to(DEVICE).requires_grad_() for p in params]


def _run(optimizer: torch.optim.Optimizer, params: list[torch.Tensor], executor: str = "loop") -> None:
    # torch's fused SGD cannot take a parameter whose first gradient comes late (its kernel gets a
    # None buffer), as in tests/optim/test_generic.py.
    skip_index = None if executor == "fused" else 1
    for step in range(STEPS):
        for p, g in zip(params, grads_at(step, [p.detach().cpu() for p in params], skip_index=skip_index)):
            p.grad = None if g is None else g.to(DEVICE)
        optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("entry,config,executor", cases(only=_torch_oracle))
def test_every_executor_on_cuda_matches_torch(entry: DBEntry, config: dict[str, Any], executor: str,
                                              dtype: torch.dtype) -> None:
    # On CUDA torch's default is foreach (optimkit's too); "fused" is torch's CUDA kernel where
    # torch has one, optimkit's compiled rule otherwise (its oracle then is torch's default).
    ours = _params(entry, dtype, executor)
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    mine = build(entry.cls, entry, ours, config, executor)
    reference = build(entry.reference_cls(), entry, theirs, config, executor)
    _run(mine, ours, executor)
    _run(reference, theirs, executor)
    tolerance = entry.inputs.rounding_tolerance.get(executor) if dtype == torch.float64 else None
    assert_params_close(ours, theirs, tolerance)
    assert_states_close(mine, reference, tolerance)


def _takes_capturable(entry: DBEntry) -> bool:
    import inspect

    return _torch_oracle(entry) and "capturable" in inspect.signature(entry.cls).parameters


_CAPTURABLE = {param.values[0].name: param.values[0] for param in cases(executors=False, only=_takes_capturable)}


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("entry", [pytest.param(_CAPTURABLE[name], id=name) for name in sorted(_CAPTURABLE)])
def test_capturable_on_cuda_matches_torch(entry: DBEntry, foreach: bool) -> None:
    # Capturable keeps every per-parameter scalar on the device (no host sync), as torch does.
    ours = _params(entry, torch.float32, "loop")
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    kwargs = {"capturable": True, "foreach": foreach}
    mine, reference = entry.cls(ours, **kwargs), entry.reference_cls()(theirs, **kwargs)
    _run(mine, ours)
    _run(reference, theirs)
    assert_params_close(ours, theirs)
    assert_states_close(mine, reference)


def test_default_on_cuda_is_foreach_like_torchs() -> None:
    params = [torch.randn(4, 3, device=DEVICE, requires_grad=True)]
    for name in ("Adam", "AdamW", "SGD", "NAdam", "RMSprop"):
        opt = getattr(optimkit.optim, name)(params)
        group = opt.param_groups[0]
        assert opt._use_foreach(group, params), name
        assert not opt._runs_fused(group, params, [torch.zeros_like(p) for p in params]), name


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD", "Adagrad", "NAdam", "Rprop"])
def test_flattened_model_on_cuda_trains_to_identical_parameters(name: str) -> None:
    def model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(9, 17), nn.Tanh(), nn.Linear(17, 5)).to(DEVICE)

    plain, flat = model(), model()
    optimkit.flatten_parameters(flat)
    kwargs = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    plain_opt = getattr(optimkit.optim, name)(plain.parameters(), **kwargs)
    flat_opt = getattr(optimkit.optim, name)(flat.parameters(), **kwargs)
    generator = torch.Generator().manual_seed(1)
    for _ in range(20):
        x = torch.randn(8, 9, generator=generator).to(DEVICE)
        for net, opt in ((plain, plain_opt), (flat, flat_opt)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(flat.parameters(), plain.parameters()):
        assert torch.equal(p, q)


def test_step_bench_runs_on_cuda(tmp_path: Path) -> None:
    bench = load_script("benchmarks/step_bench.py")
    out = tmp_path / "cuda.json"
    bench.main(["--smoke", "--device", "cuda", "--layouts", "b", "--optimizers", "adam,nadam", "--repeats", "1",
                "--no-compile", "--json", str(out)])
    results = json.loads(out.read_text())
    assert results["meta"]["device"] == "cuda"
    for row in results["steps"]:
        assert "optimkit-default" in row["variants"] and "torch-default" in row["variants"], row["optimizer"]
