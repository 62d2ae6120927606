"""The test database: for every registered optimizer, its input configurations, error inputs and
capabilities, from which the generic tests in ``tests/optim/test_generic.py`` are generated.

The list of optimizers comes from the registry (``optimkit.registry``); each registry name ``n``
has its inputs in ``tests/optim_db/n.py`` as ``ENTRY = OptimizerInputs(...)``. A configuration
leaves out ``foreach``/``fused``/``differentiable``: the harness crosses those itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from optimkit.registry import OptimizerSpec, optimizer_specs

__all__ = ["ErrorInput", "OptimizerInputs", "DBEntry", "DB", "EXECUTORS", "cases"]


@dataclass(frozen=True)
class ErrorInput:
    """Constructor arguments (besides params) that must raise ``error`` matching ``match``."""

    kwargs: dict[str, Any]
    error: type[Exception]
    match: str
    # When the error only appears at step() (torch checks some things lazily).
    at_step: bool = False


@dataclass(frozen=True)
class OptimizerInputs:
    """What the database knows about one optimizer besides its registry spec."""

    configs: list[dict[str, Any]]
    error_inputs: list[ErrorInput] = field(default_factory=list)
    # Options for the second parameter group (merged over each config), so groups differ;
    # None for optimizers that take a single group only (LBFGS).
    second_group: dict[str, Any] | None = field(default_factory=lambda: {"lr": 0.05})
    # The oracle: defaults to torch.optim.<spec.torch_name>.
    reference: Callable[..., torch.optim.Optimizer] | None = None
    # The options that make the update run "maximize": most optimizers take maximize=True.
    supports_maximize: bool = True
    # Parameter shapes (the harness adds a complex one when the spec supports complex).
    shapes: tuple[tuple[int, ...], ...] = ((5, 3), (4,), (2, 3, 2))
    # step() must be given a closure that recomputes the loss and gradients (LBFGS). The harness
    # then makes gradients by backpropagating a step-dependent quadratic loss.
    needs_closure: bool = False
    # Gradients are sparse COO tensors (SparseAdam); the harness makes sparse ones.
    sparse_grads: bool = False
    # The tolerance of test_foreach_equals_loop where torch's own foreach and for-loop
    # implementations differ by more than rounding (ASGD: eta in float32 vs float64 arithmetic);
    # None: the usual TOLERANCES.
    foreach_loop_tolerance: dict[str, float] | None = None
    # torch creates every parameter's state in the constructor (Adagrad), so a parameter that never
    # gets a gradient still has its initial state; it must stay exactly that.
    eager_state: bool = False
    # test_differentiable_gradcheck fills every state with random values in [0.5, 1.5); this maps
    # them (by state name) into the region where the update is defined, e.g. centered RMSprop
    # needs square_avg >= grad_avg**2. None: use them as they are.
    gradcheck_states: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None


@dataclass(frozen=True)
class DBEntry:
    spec: OptimizerSpec
    inputs: OptimizerInputs

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def cls(self) -> type:
        return self.spec.cls

    def reference_cls(self) -> Callable[..., torch.optim.Optimizer]:
        if self.inputs.reference is not None:
            return self.inputs.reference
        assert self.spec.torch_name is not None, f"{self.name}: no torch counterpart and no reference"
        return getattr(torch.optim, self.spec.torch_name)

    def executors(self) -> list[str]:
        """The executors this optimizer offers on the CPU: loop, foreach, fused."""
        names = ["loop"]
        if self.spec.supports_foreach:
            names.append("foreach")
        if self.spec.supports_fused:
            names.append("fused")
        return names


def _load() -> dict[str, DBEntry]:
    entries: dict[str, DBEntry] = {}
    for spec in optimizer_specs():
        module = importlib.import_module(f"tests.optim_db.{spec.name}")
        entries[spec.name] = DBEntry(spec=spec, inputs=module.ENTRY)
    return entries


DB: dict[str, DBEntry] = _load()

EXECUTORS: dict[str, dict[str, Any]] = {
    "loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


def config_id(config: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in config.items()) or "defaults"


def cases(*, executors: bool = True, only: Callable[[DBEntry], bool] | None = None) -> list[Any]:
    """pytest parameters: (entry, config[, executor]) for every entry and configuration."""
    import pytest

    params = []
    for entry in DB.values():
        if only is not None and not only(entry):
            continue
        for config in entry.inputs.configs:
            if executors:
                for executor in entry.executors():
                    params.append(pytest.param(entry, config, executor, id=f"{entry.name}-{config_id(config)}-{executor}"))
            else:
                params.append(pytest.param(entry, config, id=f"{entry.name}-{config_id(config)}"))
    return params
