"""The one set of helpers that run an optimkit optimizer and its oracle (``torch.optim`` or a plain
reference) through identical steps and compare what they end with.

Two ways of stepping:

* the database tests (tests/optim/test_generic.py) step each optimizer on its own, with
  gradients that depend only on the step number: :func:`make_params`, :func:`build`,
  :func:`run_entry`;
* the tests of single optimizers step twins in lockstep: :func:`twin_params` (or
  :func:`random_params` and :func:`clone_params`), then :func:`drive_in_lockstep`, which hands
  each step's gradients to the first list of parameters and clones of them to the others. The
  gradients come from :func:`stream_grads`, :func:`seeded_grads` or any function of the step and
  the parameters; :func:`run_against_torch` does all of it against torch's class of the same name.

Then :func:`assert_params_close` and :func:`assert_states_close`, with :data:`TOLERANCES` by
dtype unless a tolerance is given.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor

import optimkit.optim._validation as validation
from tests._db import EXECUTORS, DBEntry

# ---------------------------------------------------------------------------------- tolerances
TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
}
#: Against a reference written out element by element, or between two runs of the same arithmetic.
EXACT = {"rtol": 1e-12, "atol": 1e-14}
#: Where one of torch's implementations rounds its step sizes in float32 and the other does not.
FLOAT32_STEP_SIZES = {"rtol": 1e-7, "atol": 1e-9}


def tolerance_for(dtype: torch.dtype) -> dict[str, float]:
    """:data:`TOLERANCES` for ``dtype``: float64's for float64 and complex128, float32's otherwise."""
    return TOLERANCES[torch.float64 if dtype in (torch.float64, torch.complex128) else torch.float32]


def complex_of(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


# ---------------------------------------------------------------------------------- parameters
def _generator(seed: int | torch.Generator) -> torch.Generator:
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)


def random_params(shapes: Sequence[Sequence[int]], dtype: torch.dtype | Sequence[torch.dtype] = torch.float64, *,
                  seed: int | torch.Generator = 0, requires_grad: bool = True,
                  draw_dtype: torch.dtype | None = None) -> list[Tensor]:
    """Leaf tensors drawn one after another from a generator seeded with ``seed`` (or from the
    generator itself, which goes on): shape ``i`` in ``dtype``, or in ``dtype[i]``. With
    ``draw_dtype`` the values are drawn in that dtype and then cast (bfloat16 parameters)."""
    generator = _generator(seed)
    dtypes = [dtype] * len(shapes) if isinstance(dtype, torch.dtype) else list(dtype)
    params = [
        torch.randn(shape, dtype=d, generator=generator) if draw_dtype is None
        else torch.randn(shape, dtype=draw_dtype, generator=generator).to(d)
        for shape, d in zip(shapes, dtypes)
    ]
    return [p.requires_grad_(requires_grad) for p in params]


def clone_params(params: Sequence[Tensor], *, requires_grad: bool = True) -> list[Tensor]:
    return [p.detach().clone().requires_grad_(requires_grad) for p in params]


def twin_params(shapes: Sequence[Sequence[int]], dtype: torch.dtype | Sequence[torch.dtype] = torch.float64, *,
                seed: int | torch.Generator = 0, requires_grad: bool = True,
                draw_dtype: torch.dtype | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """Two equal, independent lists of :func:`random_params`: ours and theirs."""
    base = random_params(shapes, dtype, seed=seed, requires_grad=False, draw_dtype=draw_dtype)
    return clone_params(base, requires_grad=requires_grad), clone_params(base, requires_grad=requires_grad)


def mixed_params(dtype: torch.dtype = torch.float64, *, seed: int = 0, requires_grad: bool = True) -> list[Tensor]:
    """A matrix, a vector and a complex matrix. Differentiable optimizers update them under
    autograd, which a leaf that requires grad does not allow: pass ``requires_grad=False``."""
    return random_params([(4, 3), (5,), (2, 2)], [dtype, dtype, complex_of(dtype)], seed=seed,
                         requires_grad=requires_grad)


def make_params(entry: DBEntry, dtype: torch.dtype, *, executor: str = "loop", seed: int = 0) -> list[Tensor]:
    """A database entry's parameters: its real shapes, plus a complex one where complex is
    supported (fused kernels take floating point only)."""
    generator = torch.Generator().manual_seed(seed)
    params = [torch.randn(shape, dtype=dtype, generator=generator) for shape in entry.inputs.shapes]
    if entry.spec.supports_complex and executor != "fused":
        params.append(torch.randn((3, 2), dtype=complex_of(dtype), generator=generator))
    return [p.requires_grad_() for p in params]


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


def _takes(factory: Callable[..., Any], name: str) -> bool:
    try:
        accepted = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return name in accepted or any(p.kind is p.VAR_KEYWORD for p in accepted.values())


def _executor_kwargs(factory: Callable[..., Any], executor: str) -> dict[str, Any]:
    """The constructor flags selecting ``executor``. An optimizer without a ``foreach`` argument
    (SparseAdam) only has its per-tensor loop, which it runs without being told."""
    kwargs = dict(EXECUTORS[executor])
    if executor == "fused" and not _takes(factory, "fused"):
        return {}  # torch has no fused kernel for this algorithm: the oracle is its default loop
    if executor == "loop":
        try:
            accepted = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            return kwargs
        if "foreach" not in accepted and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
            kwargs.pop("foreach", None)
    return kwargs


# ----------------------------------------------------------------------------------- gradients
#: The gradients of one step: ``grads(step, params)``, ``None`` for a parameter that gets none.
GradFn = Callable[[int, list[Tensor]], list[Tensor | None]]
SkipFn = Callable[[int, int], bool]


def every_third_step(index: int = 1) -> SkipFn:
    """The parameter at ``index`` gets no gradient on every third step, starting with the first
    (so its state is created late)."""
    return lambda step, i: i == index and step % 3 == 0


def stream_grads(seed: int | torch.Generator, *, skip: SkipFn | None = None) -> GradFn:
    """Gradients drawn from one generator through the whole run, parameter after parameter (one
    is drawn for a parameter ``skip`` leaves out as well)."""
    generator = _generator(seed)

    def grads(step: int, params: list[Tensor]) -> list[Tensor | None]:
        drawn = [torch.randn(p.shape, dtype=p.dtype, generator=generator) for p in params]
        return [None if skip is not None and skip(step, i) else g for i, g in enumerate(drawn)]

    return grads


def seeded_grads(base_seed: int, *, skip: SkipFn | None = None, draw_dtype: torch.dtype | None = None) -> GradFn:
    """Gradients of step ``step`` drawn from a generator seeded with ``base_seed + step`` (the same
    whatever ran before); with ``draw_dtype``, drawn in that dtype and cast to the parameter's."""

    def grads(step: int, params: list[Tensor]) -> list[Tensor | None]:
        generator = torch.Generator().manual_seed(base_seed + step)
        drawn = [torch.randn(p.shape, dtype=draw_dtype or p.dtype, generator=generator).to(p.dtype)
                 for p in params]
        return [None if skip is not None and skip(step, i) else g for i, g in enumerate(drawn)]

    return grads


def set_grads(grads: Sequence[Tensor | None], *param_lists: Sequence[Tensor]) -> None:
    """``grads[i]`` to the ``i``-th parameter of the first list, clones of it to the others'."""
    first, *others = param_lists
    for index, grad in enumerate(grads):
        first[index].grad = grad
        for params in others:
            params[index].grad = None if grad is None else grad.clone()


def drive_in_lockstep(optimizers: Sequence[torch.optim.Optimizer], param_lists: Sequence[list[Tensor]],
                      steps: int, grads: GradFn) -> None:
    """``steps`` steps of every optimizer (in order) on the same gradients: at each step,
    ``grads(step, param_lists[0])`` go to the first list of parameters, clones to the others."""
    for step in range(steps):
        set_grads(grads(step, param_lists[0]), *param_lists)
        for optimizer in optimizers:
            optimizer.step()


class Lockstep(NamedTuple):
    """Our optimizer and its twin, with their parameters, after :func:`run_against_torch`."""

    ours_params: list[Tensor]
    theirs_params: list[Tensor]
    ours: torch.optim.Optimizer
    theirs: torch.optim.Optimizer

    def drive(self, steps: int, grads: GradFn) -> None:
        drive_in_lockstep((self.ours, self.theirs), (self.ours_params, self.theirs_params), steps, grads)

    def load_old_checkpoint(self, *numbers: str) -> None:
        """Load into both optimizers torch's state dict with the entries ``numbers`` as plain
        numbers, as checkpoints written before those entries became tensors have them (a copy
        each: loading keeps tensors of the right dtype and device as they are)."""
        saved = self.theirs.state_dict()
        for state in saved["state"].values():
            for key in numbers:
                state[key] = state[key].item()
        self.ours.load_state_dict(copy.deepcopy(saved))
        self.theirs.load_state_dict(copy.deepcopy(saved))

    def assert_close(self, tolerance: dict[str, float] = TOLERANCES[torch.float64], *, states: bool = True) -> None:
        """Close parameters and (``states``) close states, every value within ``tolerance``."""
        assert_params_close(self.ours_params, self.theirs_params, tolerance)
        if states:
            assert_states_close(self.ours, self.theirs, tolerance)


def run_against_torch(ours_cls: type, steps: int = 25, dtype: torch.dtype = torch.float64,
                      **kwargs: Any) -> Lockstep:
    """The optimkit class and torch's class of the same name, built with ``kwargs`` on
    :func:`mixed_params` and driven ``steps`` steps on :func:`stream_grads` (seed 1), the second
    parameter sitting out every third step."""
    theirs_cls = getattr(torch.optim, ours_cls.__name__)
    requires_grad = not kwargs.get("differentiable", False)
    ours_params = mixed_params(dtype, requires_grad=requires_grad)
    theirs_params = clone_params(ours_params, requires_grad=requires_grad)
    run = Lockstep(ours_params, theirs_params, ours_cls(ours_params, **kwargs), theirs_cls(theirs_params, **kwargs))
    run.drive(steps, stream_grads(1, skip=every_third_step()))
    return run


# ------------------------------------------------------------ stepping one optimizer on its own
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


def follow_oracle(entry: DBEntry, config: dict[str, Any], executor: str, dtype: torch.dtype,
                  steps: int) -> tuple[list[Tensor], torch.optim.Optimizer]:
    """Train the entry's parameters ``steps`` steps with optimkit's class and with its oracle (the
    same configuration and executor) and assert that parameters and state agree: within the
    entry's rounding tolerance for the executor in float64, within the dtype's otherwise. Returns
    optimkit's parameters and optimizer, for further checks."""
    params = make_params(entry, dtype, executor=executor)
    reference_params = clone_params(params)
    ours = build(entry.cls, entry, params, config, executor)
    theirs = build(entry.reference_cls(), entry, reference_params, config, executor)
    # torch's fused SGD cannot take a parameter whose first gradient comes late (its kernel gets
    # a None buffer); tests/optim/test_sgd.py checks that case of ours against the for-loop.
    skip_index = None if executor == "fused" else 1
    run_entry(entry, ours, params, range(steps), skip_index=skip_index)
    run_entry(entry, theirs, reference_params, range(steps), skip_index=skip_index)
    # (float64 only: float32's own tolerance is wider than any of these.)
    tolerance = entry.inputs.rounding_tolerance.get(executor) if dtype == torch.float64 else None
    assert_params_close(params, reference_params, tolerance)
    assert_states_close(ours, theirs, tolerance)
    return params, ours


# ---------------------------------------------------------------------------------- comparisons
def assert_params_close(actual: Sequence[Tensor], expected: Sequence[Tensor],
                        tolerance: dict[str, float] | None = None) -> None:
    """Close parameters: :data:`TOLERANCES` by dtype, unless ``tolerance`` is given."""
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a.detach(), e.detach(), **(tolerance or tolerance_for(a.dtype)))


def assert_states_close(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer,
                        tolerance: dict[str, float] | None = None) -> None:
    """Same state keys per parameter, in the same order, and close values (dtype and device
    included); values are compared with :data:`TOLERANCES` by dtype, unless ``tolerance`` is given."""
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
        torch.testing.assert_close(actual, value, **(tolerance or tolerance_for(value.dtype)))
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


# -------------------------------------------------------------------------------- the settings
@contextlib.contextmanager
def using_default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """``dtype`` as torch's default dtype inside the block (it decides the dtype of ``step``)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def allow_capturable_on_cpu(monkeypatch: pytest.MonkeyPatch, torch_cls: type) -> None:
    """Let ``capturable=True`` run on the CPU in both torch's ``torch_cls`` and optimkit, so the
    on-device (0-dim tensor) arithmetic can be compared without an accelerator."""

    def devices(supports_xla: bool = True) -> list[str]:
        return ["cpu", "cuda"]

    monkeypatch.setattr(sys.modules[torch_cls.__module__], "_get_capturable_supported_devices", devices)
    monkeypatch.setattr(validation, "capturable_devices", lambda *, supports_xla=True: ["cpu", "cuda"])


def reload_with_numbers(optimizer: torch.optim.Optimizer, param: Tensor, **entries: float) -> None:
    """Reload ``optimizer`` (``__setstate__``) with plain numbers for ``entries`` of ``param``'s
    state, as checkpoints written before those entries became tensors have them."""
    state = optimizer.__getstate__()  # type: ignore[no-untyped-call]
    state["state"][param].update(entries)
    optimizer.__setstate__(state)


# ----------------------------------------------------------------- differentiating through steps
def meta_start() -> Tensor:
    """The leaf that the unrolled differentiable steps of :func:`differentiable_steps` start from."""
    return torch.linspace(-1.0, 1.0, 6, dtype=torch.float64).reshape(2, 3).requires_grad_()


def differentiable_steps(cls: type, start: Tensor, steps: int, **kwargs: Any) -> Tensor:
    """``steps`` steps with ``differentiable=True`` from a copy of ``start`` (a non-leaf, updated
    in place), on the gradients ``cos(k * (step + 1))`` of element ``k``; the final weights."""
    w = start.clone()
    opt = cls([w], differentiable=True, **kwargs)
    for step in range(steps):
        w.grad = torch.cos(torch.arange(w.numel(), dtype=w.dtype).reshape(w.shape) * (step + 1))
        opt.step()
    return w


# ------------------------------------------------------------------------------------ scripts
ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """A script of the checkout (``benchmarks/step_bench.py``, ``scripts/update_docs.py``),
    freshly imported as a module and registered as ``optimkit_<its stem>`` in ``sys.modules``
    (dataclasses look their module up there)."""
    path = ROOT / relative
    name = f"optimkit_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
