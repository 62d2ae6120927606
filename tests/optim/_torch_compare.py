"""Helpers for the specific NAdam, RAdam and RMSprop tests: run an optimkit optimizer and its
torch.optim counterpart side by side, and let ``capturable=True`` run on the CPU."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import torch
from torch import Tensor

import optimkit.optim._validation as validation


def make_params(dtype: torch.dtype = torch.float64, seed: int = 0, requires_grad: bool = True) -> list[Tensor]:
    """A matrix, a vector and a complex matrix. Differentiable optimizers update them under
    autograd, which a leaf that requires grad does not allow: pass ``requires_grad=False``."""
    g = torch.Generator().manual_seed(seed)
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    params = [
        torch.randn(4, 3, dtype=dtype, generator=g),
        torch.randn(5, dtype=dtype, generator=g),
        torch.randn(2, 2, dtype=complex_dtype, generator=g),
    ]
    return [p.requires_grad_(requires_grad) for p in params]


def clone(params: list[Tensor]) -> list[Tensor]:
    return [p.detach().clone().requires_grad_(p.requires_grad) for p in params]


def step_both(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, ours_params: list[Tensor],
              theirs_params: list[Tensor], steps: int, seed: int = 1) -> None:
    """``steps`` steps on identical gradients; the second parameter sits out every third step."""
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for index, (a, b) in enumerate(zip(ours_params, theirs_params)):
            grad = torch.randn(a.shape, dtype=a.dtype, generator=g)
            skip = index == 1 and step % 3 == 0
            a.grad = None if skip else grad
            b.grad = None if skip else grad.clone()
        ours.step()
        theirs.step()


def run_pair(ours_cls: type, steps: int = 25, dtype: torch.dtype = torch.float64,
             **kwargs: Any) -> tuple[list[Tensor], list[Tensor], torch.optim.Optimizer, torch.optim.Optimizer]:
    """The optimkit class and torch's class of the same name, built with ``kwargs`` and stepped."""
    theirs_cls = getattr(torch.optim, ours_cls.__name__)
    ours_params = make_params(dtype, requires_grad=not kwargs.get("differentiable", False))
    theirs_params = clone(ours_params)
    ours = ours_cls(ours_params, **kwargs)
    theirs = theirs_cls(theirs_params, **kwargs)
    step_both(ours, theirs, ours_params, theirs_params, steps)
    return ours_params, theirs_params, ours, theirs


def assert_close(actual: list[Tensor], expected: list[Tensor], rtol: float = 1e-10, atol: float = 1e-12) -> None:
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a.detach(), e.detach(), rtol=rtol, atol=atol)


def assert_same_states(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, rtol: float = 1e-10,
                       atol: float = 1e-12) -> None:
    """Same keys in the same order, same dtypes and devices, close values."""
    ours_state, theirs_state = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert ours_state.keys() == theirs_state.keys()
    for index, expected in theirs_state.items():
        actual = ours_state[index]
        assert list(actual) == list(expected)
        for key, value in expected.items():
            assert actual[key].dtype == value.dtype, key
            assert actual[key].device == value.device, key
            torch.testing.assert_close(actual[key], value, rtol=rtol, atol=atol)


def allow_capturable_on_cpu(monkeypatch: pytest.MonkeyPatch, torch_module: ModuleType) -> None:
    """Let ``capturable=True`` run on the CPU in both torch's ``torch_module`` and optimkit, so
    the on-device (0-dim tensor) arithmetic can be compared without an accelerator."""

    def devices(supports_xla: bool = True) -> list[str]:
        return ["cpu", "cuda"]

    monkeypatch.setattr(torch_module, "_get_capturable_supported_devices", devices)
    monkeypatch.setattr(validation, "capturable_devices", lambda *, supports_xla=True: ["cpu", "cuda"])
