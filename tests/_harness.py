"""Helpers that drive an optimizer and its oracle through identical steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from tests._db import EXECUTORS, DBEntry

TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
}


def make_params(entry: DBEntry, dtype: torch.dtype, *, executor: str = "loop", seed: int = 0) -> list[Tensor]:
    """Leaf parameters: the entry's real shapes, plus a complex one where complex is supported
    (fused kernels take floating point only)."""
    generator = torch.Generator().manual_seed(seed)
    params = [torch.randn(shape, dtype=dtype, generator=generator) for shape in entry.inputs.shapes]
    if entry.spec.supports_complex and executor != "fused":
        complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        params.append(torch.randn((3, 2), dtype=complex_dtype, generator=generator))
    return [p.requires_grad_() for p in params]


def clone_params(params: list[Tensor]) -> list[Tensor]:
    return [p.detach().clone().requires_grad_() for p in params]


def build(factory: Callable[..., torch.optim.Optimizer], entry: DBEntry, params: list[Tensor],
          config: dict[str, Any], executor: str) -> torch.optim.Optimizer:
    """Two parameter groups with different options: the first takes ``config``, the second
    ``config`` overridden by the entry's ``second_group`` options."""
    kwargs = {**config, **EXECUTORS[executor]}
    split = max(1, len(params) // 2)
    groups = [{"params": params[:split]}, {"params": params[split:], **entry.inputs.second_group}]
    return factory(groups, **kwargs)


def grads_at(step: int, params: list[Tensor], *, seed: int = 1, skip_index: int | None = 1) -> list[Tensor | None]:
    """Deterministic gradients for ``step``; the parameter at ``skip_index`` gets none on every
    third step, starting with the first (so its state is created late)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + step)
    grads: list[Tensor | None] = []
    for index, p in enumerate(params):
        g = torch.randn(p.shape, dtype=p.dtype, generator=generator)
        grads.append(None if index == skip_index and step % 3 == 0 else g)
    return grads


def run(optimizer: torch.optim.Optimizer, params: list[Tensor], steps: range, *, needs_closure: bool = False,
        negate: bool = False, skip_index: int | None = 1) -> None:
    """Step ``optimizer`` over ``steps``, setting gradients from :func:`grads_at` first."""
    for step in steps:
        for p, g in zip(params, grads_at(step, params, skip_index=skip_index)):
            p.grad = None if g is None else (-g if negate else g)
        if needs_closure:
            optimizer.step(lambda: torch.zeros(()))
        else:
            optimizer.step()


def assert_params_close(actual: list[Tensor], expected: list[Tensor]) -> None:
    for a, e in zip(actual, expected):
        tol = TOLERANCES[torch.float64 if a.dtype in (torch.float64, torch.complex128) else torch.float32]
        torch.testing.assert_close(a.detach(), e.detach(), **tol)


def assert_states_close(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer) -> None:
    """Same state keys per parameter, and close values (dtype and device included)."""
    ours_state = ours.state_dict()["state"]
    theirs_state = theirs.state_dict()["state"]
    assert ours_state.keys() == theirs_state.keys()
    for index, expected in theirs_state.items():
        actual = ours_state[index]
        assert list(actual) == list(expected), f"state keys of param {index}: {list(actual)} != {list(expected)}"
        for key, value in expected.items():
            if isinstance(value, Tensor):
                assert actual[key].dtype == value.dtype, (key, actual[key].dtype, value.dtype)
                assert actual[key].device == value.device, key
                tol = TOLERANCES[torch.float64 if value.dtype in (torch.float64, torch.complex128) else torch.float32]
                torch.testing.assert_close(actual[key], value, **tol)
            else:
                assert actual[key] == value, key
