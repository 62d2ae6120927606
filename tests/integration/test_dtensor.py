"""Every optimizer on DTensor parameters (what FSDP2's ``fully_shard`` hands an optimizer), on a
one-process CPU mesh: the step equals the same optimizer's step on plain tensors.

A combination fails only where torch.optim's own optimizer fails the same way on the same
DTensors (a kernel without a sharding rule): then it is skipped with torch's message. The
two-process FSDP2 training and checkpoint tests are in test_fsdp.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.distributed as dist

from optimkit.registry import optimizer_specs
from tests.integration._distributed import free_port

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")

NOT_HERE = {"lbfgs": "needs a closure", "sparseadam": "needs sparse gradients"}
STEPS = 3


@pytest.fixture(scope="module")
def mesh() -> Iterator[Any]:
    from torch.distributed.device_mesh import init_device_mesh

    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def _tensors(seed: int) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
    """Two matrices (Muon takes matrices only) and their gradients for STEPS steps."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (6, 5)]
    return [(torch.randn(*s, generator=generator, dtype=torch.float64),
             [torch.randn(*s, generator=generator, dtype=torch.float64) for _ in range(STEPS)]) for s in shapes]


def _run(cls: type, options: dict[str, Any], mesh: Any | None) -> list[torch.Tensor]:
    from torch.distributed.tensor import Shard, distribute_tensor

    def placed(t: torch.Tensor) -> torch.Tensor:
        return t.clone() if mesh is None else distribute_tensor(t.clone(), mesh, [Shard(0)])

    data = _tensors(0)
    params = [torch.nn.Parameter(placed(value)) for value, _ in data]
    optimizer = cls(params, **options)
    for step in range(STEPS):
        for p, (_, grads) in zip(params, data):
            p.grad = placed(grads[step])
        optimizer.step()
    return [p.detach().full_tensor() if mesh is not None else p.detach() for p in params]


def _cases() -> list[Any]:
    cases = []
    for spec in optimizer_specs("optim"):
        if spec.name in NOT_HERE:
            continue
        executors: list[tuple[str, dict[str, Any]]] = [("default", {})]
        if spec.supports_foreach:
            executors += [("foreach", {"foreach": True}), ("loop", {"foreach": False})]
        for label, options in executors:
            cases.append(pytest.param(spec, options, id=f"{spec.name}-{label}"))
    return cases


@pytest.mark.parametrize(("spec", "options"), _cases())
def test_step_on_dtensor_equals_plain_tensors(spec: Any, options: dict[str, Any], mesh: Any) -> None:
    options = {**options, **({"lr": 0.01} if spec.name != "adafactor" else {})}
    try:
        sharded = _run(spec.cls, options, mesh)
    except (NotImplementedError, RuntimeError) as error:
        torch_cls = getattr(torch.optim, spec.torch_name or "", None)
        if torch_cls is None:
            raise
        try:
            _run(torch_cls, options, mesh)
        except type(error) as same:
            pytest.skip(f"torch.optim.{spec.torch_name} fails alike on DTensor: {str(same).splitlines()[0][:160]}")
        raise
    plain = _run(spec.cls, options, None)
    for s, p in zip(sharded, plain):
        torch.testing.assert_close(s, p, rtol=1e-12, atol=1e-14)
