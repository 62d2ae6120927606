"""Helpers that drive an optimizer and its oracle through identical steps."""

from __future__ import annotations

import inspect
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
    kwargs = {**config, **_executor_kwargs(factory, executor)}
    if entry.inputs.second_group is None:
        return factory(params, **kwargs)
    split = max(1, len(params) // 2)
    groups = [{"params": params[:split]}, {"params": params[split:], **entry.inputs.second_group}]
    return factory(groups, **kwargs)


def _executor_kwargs(factory: Callable[..., Any], executor: str) -> dict[str, Any]:
    """The constructor flags selecting ``executor``. An optimizer without a ``foreach`` argument
    (SparseAdam) only has its per-tensor loop, which it runs without being told."""
    kwargs = dict(EXECUTORS[executor])
    if executor == "loop":
        try:
            accepted = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            return kwargs
        if "foreach" not in accepted and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
            kwargs.pop("foreach", None)
    return kwargs


def _sparse_like(p: Tensor, generator: torch.Generator) -> Tensor:
    """A coalesced sparse COO gradient for ``p`` touching about half of its rows."""
    rows = p.shape[0]
    chosen = torch.randperm(rows, generator=generator)[: max(1, rows // 2)].sort().values
    values = torch.randn((len(chosen), *p.shape[1:]), dtype=p.dtype, generator=generator)
    return torch.sparse_coo_tensor(chosen.unsqueeze(0), values, p.shape).coalesce()


def grads_at(step: int, params: list[Tensor], *, seed: int = 1, skip_index: int | None = 1,
             sparse: bool = False) -> list[Tensor | None]:
    """Deterministic gradients for ``step``; the parameter at ``skip_index`` gets none on every
    third step, starting with the first (so its state is created late)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + step)
    grads: list[Tensor | None] = []
    for index, p in enumerate(params):
        g = _sparse_like(p, generator) if sparse else torch.randn(p.shape, dtype=p.dtype, generator=generator)
        grads.append(None if index == skip_index and step % 3 == 0 else g)
    return grads


def quadratic_closure(params: list[Tensor], step: int, *, negate: bool = False,
                      skip_index: int | None = 1) -> Callable[[], Tensor]:
    """A closure for ``step``: zero the gradients, then backpropagate a weighted quadratic whose
    targets depend on the step (the parameter at ``skip_index`` sits out every third step)."""
    generator = torch.Generator().manual_seed(7 * 100_003 + step)
    targets = [torch.randn(p.shape, dtype=p.dtype, generator=generator) for p in params]
    weights = [torch.rand(p.shape, generator=generator).to(p.real.dtype) + 0.5 for p in params]
    sign = -1.0 if negate else 1.0

    def closure() -> Tensor:
        for p in params:
            p.grad = None
        loss = sum(
            (w * (p - t).abs().pow(2)).sum()
            for index, (p, t, w) in enumerate(zip(params, targets, weights))
            if not (index == skip_index and step % 3 == 0)
        )
        loss = sign * loss  # type: ignore[assignment]
        loss.backward()  # type: ignore[union-attr]
        return loss.detach()  # type: ignore[union-attr]

    return closure


def run(optimizer: torch.optim.Optimizer, params: list[Tensor], steps: range, *, needs_closure: bool = False,
        negate: bool = False, skip_index: int | None = 1, sparse: bool = False) -> None:
    """Step ``optimizer`` over ``steps``: with gradients from :func:`grads_at`, or, for
    optimizers that need one, through a :func:`quadratic_closure`."""
    for step in steps:
        if needs_closure:
            optimizer.step(quadratic_closure(params, step, negate=negate, skip_index=skip_index))
            continue
        for p, g in zip(params, grads_at(step, params, skip_index=skip_index, sparse=sparse)):
            p.grad = None if g is None else (-g if negate else g)
        optimizer.step()


def run_entry(entry: DBEntry, optimizer: torch.optim.Optimizer, params: list[Tensor], steps: range, **kwargs: Any) -> None:
    """:func:`run` with the entry's own stepping needs (closure, sparse gradients)."""
    run(optimizer, params, steps, needs_closure=entry.inputs.needs_closure, sparse=entry.inputs.sparse_grads, **kwargs)


def assert_params_close(actual: list[Tensor], expected: list[Tensor],
                        tolerance: dict[str, float] | None = None) -> None:
    """Close parameters: :data:`TOLERANCES` by dtype, unless ``tolerance`` is given."""
    for a, e in zip(actual, expected):
        tol = tolerance or TOLERANCES[torch.float64 if a.dtype in (torch.float64, torch.complex128) else torch.float32]
        torch.testing.assert_close(a.detach(), e.detach(), **tol)


def assert_states_close(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer,
                        tolerance: dict[str, float] | None = None) -> None:
    """Same state keys per parameter, and close values (dtype and device included); values are
    compared with :data:`TOLERANCES` by dtype, unless ``tolerance`` is given."""
    ours_state = ours.state_dict()["state"]
    theirs_state = theirs.state_dict()["state"]
    assert ours_state.keys() == theirs_state.keys()
    for index, expected in theirs_state.items():
        actual = ours_state[index]
        assert list(actual) == list(expected), f"state keys of param {index}: {list(actual)} != {list(expected)}"
        for key, value in expected.items():
            _assert_state_value_close(actual[key], value, key, tolerance)


def _assert_state_value_close(actual: Any, value: Any, key: Any, tolerance: dict[str, float] | None) -> None:
    """One state entry: tensors close (same dtype and device), lists and tuples element by element
    (LBFGS keeps lists of tensors), floats close and of the same type, anything else equal."""
    if isinstance(value, Tensor):
        assert isinstance(actual, Tensor), (key, type(actual))
        assert actual.dtype == value.dtype, (key, actual.dtype, value.dtype)
        assert actual.device == value.device, key
        tol = tolerance or TOLERANCES[
            torch.float64 if value.dtype in (torch.float64, torch.complex128) else torch.float32]
        torch.testing.assert_close(actual, value, **tol)
    elif isinstance(value, (list, tuple)):
        assert type(actual) is type(value) and len(actual) == len(value), (key, actual, value)
        for index, (a, e) in enumerate(zip(actual, value)):
            _assert_state_value_close(a, e, (key, index), tolerance)
    elif isinstance(value, float):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), (key, type(actual))
        tol = tolerance or TOLERANCES[torch.float64]
        assert abs(actual - value) <= tol["atol"] + tol["rtol"] * abs(value), (key, actual, value)
    else:
        assert actual == value, key
