"""Bad input, fuzzed (issue 13, item 8).

Hypothesis generates bad input for every registered class of both namespaces and checks what
comes back. The allowed outcomes are success, or a ``ValueError`` / ``TypeError`` / ``KeyError``
(a :class:`~optimkit.config.ConfigError` from :func:`optimkit.config.load`) whose message names
the offending argument or key; anything else (``AttributeError``, ``IndexError``, a kernel's
``RuntimeError``, a hang) fails. Where optimkit claims to be torch, torch is the oracle and wins:
for the same input optimkit accepts what torch accepts and raises what torch raises, with the
same type and message (``TORCH_WINS`` below lists what that lets through).

* (a) constructor arguments of every optimizer and scheduler: wrong types (bools, strings,
  ``None``, lists and tuples of the wrong length, dicts), NaN, infinities, negatives, zero, huge
  values; then three steps;
* (b) configs through :func:`optimkit.config.load`, as dicts and as YAML files (also truncated
  or garbled YAML), both styles, then three optimizer + scheduler steps on a tiny model;
* (c) state dicts fed to ``load_state_dict`` of optimizers and schedulers: missing keys, wrong
  lengths of ``param_groups`` / ``params``, wrong types, the state dict of another class, older
  torch layouts (no ``differentiable`` / ``fused`` / ``decoupled_weight_decay``, number steps).
  A failed load leaves ``state_dict()`` of the optimizer and of the scheduler exactly as before.

Every test is derandomized (``derandomize=True``, no example database), so CI runs the same
examples each time. ``python -m tests.integration.test_fuzz [N]`` runs the configs measurement
of the issue (``N`` configs, default 1500, with three steps each) and prints how many escape.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimkit.cerebras.optim.lr_scheduler as C
import optimkit.optim as ok
import optimkit.optim.lr_scheduler as O
from optimkit import config
from optimkit._binder import ConfigError, _arguments, render_path
from optimkit.registry import optimizer_specs, scheduler_specs

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

ALLOWED = (ValueError, TypeError, KeyError)
_EMPTY = inspect.Parameter.empty
NAMESPACES = ("optim", "cerebras")
OPTIMIZERS = [(ns, spec) for ns in NAMESPACES for spec in optimizer_specs(ns)]
SCHEDULERS = [(ns, spec) for ns in NAMESPACES for spec in scheduler_specs(ns)]
NAN, INF = float("nan"), float("inf")
HANG_SECONDS = 60  # an example takes well under a second; this is for a loaded CI machine

# Example counts: the whole file runs in well under 90 s on 2 shared cores.
EXAMPLES = {
    "optimizer_ctor": 1200,
    "scheduler_ctor": 1000,
    "config_dict": 1000,
    "config_yaml": 500,
    "yaml_text": 200,
    "optimizer_state": 1000,
    "scheduler_state": 700,
}


def _settings(name: str) -> Any:
    return settings(derandomize=True, max_examples=EXAMPLES[name], deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


# ------------------------------------------------------------------------------------- helpers
class Hang(Exception):
    """An example that ran longer than HANG_SECONDS (not an allowed outcome)."""


@contextlib.contextmanager
def _watchdog(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread after ``seconds`` (where signals allow it)."""
    if not hasattr(signal, "setitimer") or os.name != "posix":
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _attempt(fn: Callable[[], Any]) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, exception)``; a hang is re-raised, never swallowed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return True, fn()
    except Hang:
        raise
    except Exception as error:  # noqa: BLE001 - the point is to look at any of them
        return False, error


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


# How messages spell an argument besides its own name (torch's "Invalid learning rate: -1").
_SPOKEN: dict[str, tuple[str, ...]] = {
    "lr": ("learning rate", "learning_rate"),
    "learning_rate": ("learning rate", "lr"),
    "eps": ("epsilon",),
    "betas": ("beta",),
    "etas": ("eta",),
    "step_sizes": ("step size",),
    "d": ("clipping threshold",),
    "T_max": ("t_max",),
    "T_0": ("t_0",),
    "T_mult": ("t_mult",),
    "initial_accumulator_value": ("initial accumulator",),
    "max_lr": ("max_lr", "maximum learning rate"),
    "total_steps": ("total steps",),
    "steps_per_epoch": ("steps per epoch",),
    "milestones": ("milestone",),
    "learning_rates": ("learning rate",),
    "pct_start": ("pct_start", "percentage"),
}


def _names(error: BaseException, names: Any) -> bool:
    """Whether the message of ``error`` names one of ``names`` (or a way messages spell it)."""
    text = str(error).lower()
    for name in names:
        name = str(name)
        if name.lower() in text or any(alias in text for alias in _SPOKEN.get(name, ())):
            return True
    return False


def _same(a: Any, b: Any) -> bool:
    """Deep equality with ``torch.equal`` (dtype, shape and layout too) on tensors, NaN == NaN."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if (a.dtype, a.shape, a.layout, a.device) != (b.dtype, b.shape, b.layout, b.device):
            return False
        a, b = a.detach().to_dense(), b.detach().to_dense()
        if a.is_floating_point() or a.is_complex():
            return bool(torch.equal(torch.isnan(a), torch.isnan(b))) and bool(
                torch.equal(torch.nan_to_num(a, nan=0.0), torch.nan_to_num(b, nan=0.0)))
        return bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if callable(a) or callable(b):
        return a is b
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001
        return a is b


# ------------------------------------------------------------------------------ tiny problems
def _params(name: str, dtype: torch.dtype = torch.float32) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    if name == "sparseadam":
        shapes: list[tuple[int, ...]] = [(5, 3)]
    elif name == "muon":
        shapes = [(3, 4), (4, 2)]
    else:
        shapes = [(3, 2), (2,)]
    return [torch.nn.Parameter(torch.randn(shape, generator=gen, dtype=dtype)) for shape in shapes]


def _set_grads(name: str, params: list[torch.nn.Parameter], seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        if name == "sparseadam":
            values = torch.randn(2, p.shape[1], generator=gen, dtype=p.dtype)
            p.grad = torch.sparse_coo_tensor(torch.tensor([[0, 3]]), values, p.shape,
                                             check_invariants=False)
        else:
            p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)


def _is_plateau(scheduler: Any) -> bool:
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) or type(scheduler).__name__ == "ReduceLROnPlateau"


def _steps(name: str, opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], scheduler: Any = None,
           count: int = 3, first_seed: int = 1) -> None:
    for seed in range(first_seed, first_seed + count):
        if type(opt).__name__ == "LBFGS":
            def closure(seed: int = seed) -> torch.Tensor:
                _set_grads(name, params, seed)
                return torch.tensor(float(seed))
            opt.step(closure)
        else:
            _set_grads(name, params, seed)
            opt.step()
        if scheduler is not None:
            if _is_plateau(scheduler):
                scheduler.step(1.0 / seed)
            else:
                scheduler.step()


def _torch_class(ns: str, spec: Any) -> type | None:
    if ns != "optim" or spec.torch_name is None:
        return None
    module = torch.optim.swa_utils if spec.torch_name == "SWALR" else torch.optim
    found = getattr(module, spec.torch_name, None) or getattr(torch.optim.lr_scheduler, spec.torch_name, None)
    return found


def _accepts(cls: type, names: Any) -> bool:
    parameters = inspect.signature(cls.__init__).parameters
    return all(name in parameters for name in names)


# ------------------------------------------------------------------------------- bad values
_SPECIAL = [NAN, INF, -INF, -1.0, -1, 0, 0.0, -0.0, 1e300, -1e-300, 5e-324, 1.5, 2, 10**30, 2**63]
_TEXT = ["", "x", "1e-3", "nan", "true", "None", "adam"]

bad_scalar = st.one_of(
    st.booleans(),
    st.none(),
    st.sampled_from(_TEXT),
    st.sampled_from(_SPECIAL),
    st.integers(min_value=-5, max_value=5),
    st.floats(allow_nan=True, allow_infinity=True),
)
# Fresh tensors every time (a scheduler fills a tensor lr in place).
bad_tensor = st.sampled_from([0.1, NAN, -1.0, [0.1, 0.2], [], [[0.5]]]).map(lambda data: torch.tensor(data))
bad_value = st.one_of(
    bad_scalar,
    bad_scalar,
    st.lists(bad_scalar, max_size=4),
    st.lists(bad_scalar, max_size=4).map(tuple),
    st.dictionaries(st.sampled_from(["a", "lr", "0"]), bad_scalar, max_size=2),
    bad_tensor,
)
# Plausible values of the right kind, so that bad ones meet good ones of other arguments.
good_number = st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, 2.0, 1e-8])
good_int = st.sampled_from([1, 2, 3, 5])


def _good_value(argument: Any) -> st.SearchStrategy[Any]:
    if argument.default is not _EMPTY:
        return st.just(copy.deepcopy(argument.default))
    return st.one_of(good_number, good_int)


def _value_for(argument: Any) -> st.SearchStrategy[Any]:
    return st.one_of(bad_value, bad_value, _good_value(argument))


@st.composite
def _some(draw: st.DrawFn, items: list[Any], least: int, most: int) -> list[Any]:
    """Between ``least`` and ``most`` distinct items (the first of a permutation: no retries)."""
    count = draw(st.integers(min(least, len(items)), min(most, len(items))))
    return draw(st.permutations(items))[:count]


# ------------------------------------------------------------------- (a) optimizer constructors
_FIXED = {"params"}


def _optimizer_arguments(spec: Any) -> list[Any]:
    return [a for a in _arguments(spec.cls) if a.name not in _FIXED]


def _required_optimizer_kwargs(spec: Any) -> dict[str, Any]:
    return {a.name: 0.01 for a in _optimizer_arguments(spec) if a.required}


@st.composite
def optimizer_cases(draw: st.DrawFn) -> tuple[str, Any, dict[str, Any]]:
    ns, spec = draw(st.sampled_from(OPTIMIZERS))
    arguments = _optimizer_arguments(spec)
    chosen = draw(_some(arguments, 1, 3))
    kwargs = _required_optimizer_kwargs(spec)
    torch_cls = _torch_class(ns, spec)
    for argument in chosen:
        value = draw(_value_for(argument))
        if argument.name == "fused" and not (torch_cls is not None and _accepts(torch_cls, ["fused"])):
            # optimkit's own fused=True compiles the rule with torch.compile: seconds per example
            value = draw(st.sampled_from([None, False, 0, 0.0, "", [], {}]))
        if spec.name == "lbfgs" and argument.name in ("max_iter", "max_eval", "history_size") and \
                isinstance(value, int) and value > 1000:
            value = 1000  # torch's LBFGS runs max_iter iterations when its tolerances never stop it
        kwargs[argument.name] = value
    return ns, spec, kwargs


# Where optimkit still differs from torch, pending changes outside this issue's files (see the
# report of issue 13 item 8); each is pinned by a strict xfail test below, so that the fix of
# one turns its test red until the exemption is removed.
def _sgd_comparison_form(spec: Any, kwargs: dict[str, Any]) -> bool:
    """torch's SGD checks ``lr < 0.0`` where the other classes check ``not 0.0 <= lr``: NaN
    passes, and a non-number fails with the operands the other way round (sgd.py's _RULES)."""
    if spec.torch_name != "SGD":
        return False
    for name in ("lr", "momentum", "weight_decay"):
        value = kwargs.get(name, 0.0)
        if isinstance(value, torch.Tensor):
            continue
        if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
            return True
    return False


def _rprop_step_sizes(spec: Any, kwargs: dict[str, Any], error: BaseException) -> bool:
    """Rprop indexes ``step_sizes`` where torch unpacks it (rprop.py): an IndexError (or another
    error) at the step where torch raises ValueError / TypeError."""
    return spec.name == "rprop" and "step_sizes" in kwargs and not (
        isinstance(kwargs["step_sizes"], (tuple, list)) and len(kwargs["step_sizes"]) == 2)


def _refused_alike(spec: Any, kwargs: dict[str, Any], built: bool, ours: Any, torch_built: bool,
                   theirs: Any) -> bool:
    """torch and optimkit accept the same constructor arguments, or refuse them with the same
    error type and message: True when both refused them (nothing is left to check)."""
    if torch_built:
        assert built, f"torch accepts {spec.torch_name}({kwargs}), optimkit raises {_describe(ours)}"
        return False
    assert not built, f"torch raises {_describe(theirs)} for {spec.torch_name}({kwargs}), optimkit accepts"
    assert type(ours) is type(theirs) and str(ours) == str(theirs), (
        f"{spec.torch_name}({kwargs}): torch raises {_describe(theirs)}, optimkit {_describe(ours)}")
    return True


def _overflow(error: BaseException) -> bool:
    """A hyperparameter beyond the range of the parameters' dtype reaching a kernel: torch's
    kernels raise this RuntimeError at the same step (a scheduler's factor can grow it there)."""
    return isinstance(error, RuntimeError) and "value cannot be converted to type" in str(error) and \
        "without overflow" in str(error)


def _momentum_buffer_left(error: BaseException) -> bool:
    """SGD's fused kernel refuses momentum buffers once a scheduler set momentum to 0 (sgd.py)."""
    return isinstance(error, RuntimeError) and "momentum_buffer_list.empty()" in str(error)


def _torch_convention(error: BaseException) -> bool:
    """torch's own errors for these inputs (a torch-named class raises them as torch does): the
    RuntimeErrors of ``fused`` with ``foreach`` / ``differentiable``, the AssertionErrors of a
    capturable step on the CPU and of foreach kernels under autograd, autograd's RuntimeError for a
    ``differentiable=True`` step on leaf parameters, and the RuntimeError of a tensor whose truth
    value is asked (``fused=tensor([])``)."""
    text = str(error)
    if isinstance(error, RuntimeError):
        return text in ("`fused` does not support `differentiable`", "`fused` and `foreach` cannot be `True` together.",
                        "a leaf Variable that requires grad is being used in an in-place operation.") \
            or text.startswith("Boolean value of Tensor with")
    if isinstance(error, AssertionError):
        return text.startswith("If capturable=True, params") or text == "_foreach ops don't support autograd"
    return False


def _off(value: Any, name: str = "") -> bool:
    """Whether an option of optimkit's own is given its "off" setting (then torch must behave
    alike without it): a falsy value; for ``state_dtype`` only ``None`` (or full precision,
    ``torch.float32``), any other value names a format or is refused."""
    if name == "state_dtype":
        return value is None or value is torch.float32
    try:
        return not value
    except Exception:  # noqa: BLE001 - a tensor without one truth value
        return False


def _lbfgs_tensor_counts(spec: Any, kwargs: dict[str, Any]) -> bool:
    """torch's LBFGS compares ``n_iter < max_iter`` and so takes a tensor ``max_iter`` /
    ``max_eval``, and fails otherwise than optimkit's (lbfgs.py) for a ``history_size`` that is
    no positive integer (a TypeError where optimkit's history raises IndexError)."""
    if spec.name != "lbfgs":
        return False
    history = kwargs.get("history_size", 1)
    return any(isinstance(kwargs.get(k), torch.Tensor) for k in ("max_iter", "max_eval")) or not (
        isinstance(history, int) and not isinstance(history, bool) and history > 0)


def _tensor_lr_in_step(error: BaseException, torch_error: Any) -> bool:
    """A multi-element (or empty) tensor set as ``lr`` by a scheduler (``gamma=tensor([..])``):
    torch's step raises TypeError (``argument 'alpha' must be Number``), optimkit's executor
    RuntimeError (``cannot be converted to Scalar``) (optimizer.py / _executor.py)."""
    return isinstance(error, RuntimeError) and "cannot be converted to Scalar" in str(error) and \
        isinstance(torch_error, TypeError)


def check_optimizer_constructor(ns: str, spec: Any, kwargs: dict[str, Any]) -> None:
    params = _params(spec.name)
    built, ours = _attempt(lambda: spec.cls(params, **kwargs))
    torch_cls = _torch_class(ns, spec)
    # A torch-named class checks what torch checks, no more (and raises torch's messages, which
    # need not name the argument); the others check types and name what they refuse.
    torch_semantics = torch_cls is not None
    # optimkit's own options (``fused`` where torch has none) left out for torch when they are off.
    torch_kwargs = {k: v for k, v in kwargs.items() if torch_semantics and _accepts(torch_cls, [k])}
    compare = torch_semantics and all(_off(v, k) for k, v in kwargs.items() if k not in torch_kwargs)
    theirs: Any = None
    tparams: list[torch.nn.Parameter] = []
    if compare:
        tparams = _params(spec.name)
        torch_built, theirs = _attempt(lambda: torch_cls(tparams, **copy.deepcopy(torch_kwargs)))
        if not _sgd_comparison_form(spec, kwargs) and _refused_alike(spec, kwargs, built, ours, torch_built, theirs):
            return
    if not built:
        if _sgd_comparison_form(spec, kwargs) and not compare:
            return
        assert isinstance(ours, ALLOWED) or (torch_semantics and _torch_convention(ours)), (
            f"{spec.cls.__name__}({kwargs}): {_describe(ours)}")
        if not torch_semantics:
            assert _names(ours, kwargs), f"{spec.cls.__name__}({kwargs}): message names no argument: {ours}"
        return
    stepped, error = _attempt(lambda: _steps(spec.name, ours, params))
    if stepped:
        return
    pending = _rprop_step_sizes(spec, kwargs, error) or _overflow(error) or \
        _lbfgs_tensor_counts(spec, kwargs)
    if compare and isinstance(theirs, torch.optim.Optimizer):
        torch_stepped, torch_error = _attempt(lambda: _steps(spec.name, theirs, tparams))
        if torch_stepped:
            assert pending, f"torch steps {spec.torch_name}({kwargs}), optimkit raises {_describe(error)}"
            return
        # Both fail: with the same type, or each with one of torch's own errors for these inputs
        # (the checks of a step need not come in torch's order).
        assert pending or isinstance(error, ALLOWED) or \
            type(error) is type(torch_error) or (_torch_convention(error) and (
                _torch_convention(torch_error) or isinstance(torch_error, ALLOWED))), (
            f"{spec.torch_name}({kwargs}) step: torch raises {_describe(torch_error)}, optimkit {_describe(error)}")
        return
    if torch_semantics:
        pending = pending or ("differentiable" in kwargs and not isinstance(kwargs["differentiable"], bool))
        assert pending or isinstance(error, ALLOWED) or _torch_convention(error), (
            f"{spec.cls.__name__}({kwargs}) step: {_describe(error)}")
        return
    if _overflow(error) or (spec.name == "asgd" and isinstance(error, ArithmeticError)):
        return  # torch's own rule fails the same way (ASGD: (1 + lambd * lr * t) ** alpha for a huge alpha)
    if kwargs.get("differentiable") is True and _torch_convention(error):
        return  # optimkit's own classes take torch's differentiable=True, with autograd's refusal of leaves
    assert isinstance(error, ALLOWED), f"{spec.cls.__name__}({kwargs}) step: {_describe(error)}"
    assert _names(error, kwargs), f"{spec.cls.__name__}({kwargs}) step: message names no argument: {error}"


@_settings("optimizer_ctor")
@given(optimizer_cases())
def test_optimizer_constructor_arguments(case: tuple[str, Any, dict[str, Any]]) -> None:
    with _watchdog():
        check_optimizer_constructor(*case)


# ------------------------------------------------------------------- (a) scheduler constructors
# Values of required arguments (and what composite schedulers are built from), by name.
_SCHEDULER_BASE: dict[str, Any] = {
    "T_max": 5, "T_0": 3, "total_steps": 10, "step_size": 2, "total_iters": 4, "gamma": 0.9,
    "decay_rate": 0.5, "coefficient": 0.9, "milestones": [2, 4], "learning_rates": [0.1, 0.05, 0.01],
    "vals": [0.1, 0.05, 0.01], "initial_learning_rate": 0.1, "end_learning_rate": 0.01, "learning_rate": 0.1,
    "initial_val": 0.1, "end_val": 0.01, "val": 0.1, "max_lr": 0.2, "base_lr": 0.01, "max_val": 0.2,
    "base_val": 0.01, "swa_lr": 0.05, "step_exponent": 1,
}
_SCHEDULER_FIXED = {"optimizer", "schedulers", "scheduler", "lr_lambda", "val_lambda", "schedule", "scale_fn",
                    "param_group_tags"}


def _children(family: str, spec: Any, opt: torch.optim.Optimizer) -> list[Any]:
    """Two child schedulers for a composite one, of the family of ``spec``."""
    if family == "torch":
        return [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2),
                torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)]
    if family == "optim":
        return [O.LinearLR(opt, start_factor=0.5, total_iters=2), O.ExponentialLR(opt, gamma=0.9)]
    if getattr(spec.cls, "param_group_key", "lr") == "weight_decay":
        return [C.LinearWD(opt, initial_val=0.1, end_val=0.01, total_iters=2), C.ConstantWD(opt, val=0.05)]
    return [C.LinearLR(opt, initial_learning_rate=0.1, end_learning_rate=0.01, total_iters=2),
            C.ConstantLR(opt, learning_rate=0.05)]


def _scheduler_arguments(spec: Any) -> list[Any]:
    return [a for a in _arguments(spec.cls) if a.name not in _SCHEDULER_FIXED]


def _build_scheduler(family: str, ns: str, spec: Any, opt: torch.optim.Optimizer, kwargs: dict[str, Any]) -> Any:
    cls = spec.cls
    if family == "torch":
        cls = _torch_class(ns, spec)
    names = [a.name for a in _arguments(spec.cls)]
    full: dict[str, Any] = {}
    for argument in _arguments(spec.cls):
        if argument.required and argument.name in _SCHEDULER_BASE:
            full[argument.name] = copy.deepcopy(_SCHEDULER_BASE[argument.name])
    if "lr_lambda" in names:
        full["lr_lambda"] = lambda epoch: 0.9 ** epoch
    if "val_lambda" in names:
        full["val_lambda"] = lambda epoch: 0.9 ** epoch
    if "schedule" in names:
        full["schedule"] = lambda t: 1.0 - 0.1 * min(t, 5)
    if spec.name == "onecyclelr" and ns == "optim":
        full["total_steps"] = 10
    full.update(kwargs)
    if "scheduler" in names:  # ScalePerParam: around one child
        return cls(opt, _children(family, spec, opt)[1], **full)
    if "schedulers" in names:
        children = _children(family, spec, opt)
        if "milestones" in names:
            full["milestones"] = kwargs.get("milestones", [2])
            return cls(opt, children, **full)
        return cls(children, **full)
    return cls(opt, **full)


@st.composite
def scheduler_cases(draw: st.DrawFn) -> tuple[str, Any, dict[str, Any]]:
    ns, spec = draw(st.sampled_from(SCHEDULERS))
    arguments = _scheduler_arguments(spec)
    kwargs: dict[str, Any] = {}
    if arguments:
        chosen = draw(_some(arguments, 1, 2))
        for argument in chosen:
            kwargs[argument.name] = draw(_value_for(argument))
    return ns, spec, kwargs


def _scheduler_optimizer(family: str) -> tuple[torch.optim.Optimizer, list[torch.nn.Parameter]]:
    params = _params("sgd")
    cls = torch.optim.SGD if family == "torch" else ok.SGD
    return cls(params, lr=0.1, momentum=0.9, weight_decay=0.01), params


def _schedule_arithmetic(ns: str, error: BaseException) -> bool:
    """A Cerebras schedule whose float arithmetic leaves the range at a later step (a coefficient
    near the largest float raised to a power: OverflowError; 1 + decay_rate * t / T reaching 0:
    ZeroDivisionError), raised by optimkit.schedules where torch's multiplicative form gives inf."""
    return ns == "cerebras" and isinstance(error, (OverflowError, ZeroDivisionError))


def check_scheduler_constructor(ns: str, spec: Any, kwargs: dict[str, Any]) -> None:
    family = "optim" if ns == "optim" else "cerebras"
    opt, params = _scheduler_optimizer(family)
    # A copy each: a scheduler steps a tensor last_epoch in place (as torch's does).
    built, ours = _attempt(lambda: _build_scheduler(family, ns, spec, opt, copy.deepcopy(kwargs)))
    torch_cls = _torch_class(ns, spec)
    torch_semantics = torch_cls is not None
    torch_kwargs = {k: v for k, v in kwargs.items() if torch_semantics and _accepts(torch_cls, [k])}
    compare = torch_semantics and all(_off(v) for k, v in kwargs.items() if k not in torch_kwargs)
    theirs: Any = None
    if compare:
        topt, tparams = _scheduler_optimizer("torch")
        torch_built, theirs = _attempt(lambda: _build_scheduler("torch", ns, spec, topt, copy.deepcopy(torch_kwargs)))
        if _refused_alike(spec, kwargs, built, ours, torch_built, theirs):
            return
    if not built:
        assert isinstance(ours, ALLOWED), f"{spec.cls.__name__}({kwargs}): {_describe(ours)}"
        if not torch_semantics:
            assert _names(ours, kwargs), f"{spec.cls.__name__}({kwargs}): message names no argument: {ours}"
        return
    stepped, error = _attempt(lambda: _steps("sgd", opt, params, ours))
    if stepped or _momentum_buffer_left(error) or _schedule_arithmetic(ns, error):
        return
    if compare:
        torch_stepped, torch_error = _attempt(lambda: _steps("sgd", topt, tparams, theirs))
        assert not torch_stepped, f"torch steps {spec.torch_name}({kwargs}), optimkit raises {_describe(error)}"
        assert isinstance(error, ALLOWED) or type(error) is type(torch_error) or _tensor_lr_in_step(error, torch_error), (
            f"{spec.torch_name}({kwargs}) step: torch raises {_describe(torch_error)}, optimkit {_describe(error)}")
        return
    assert isinstance(error, ALLOWED) or _overflow(error), f"{spec.cls.__name__}({kwargs}) step: {_describe(error)}"


@_settings("scheduler_ctor")
@given(scheduler_cases())
def test_scheduler_constructor_arguments(case: tuple[str, Any, dict[str, Any]]) -> None:
    with _watchdog():
        check_scheduler_constructor(*case)


# ----------------------------------------------------------------------------------- (b) configs
_GARBAGE_NAME = st.one_of(st.integers(-3, 3), st.none(), st.booleans(), st.lists(st.integers(0, 3), max_size=2),
                          st.sampled_from(["", "Adamm", "sgd ", "lr_scheduler", "cerebras:adamw", "optim:sgd"]),
                          st.floats(allow_nan=True), st.dictionaries(st.just("name"), st.just("SGD"), max_size=1))
_OPTIM_NAMES = sorted({s.cls.__name__ for s in optimizer_specs("optim")} | {s.name for s in optimizer_specs("optim")})
_CEREBRAS_NAMES = sorted({s.cls.__name__ for s in optimizer_specs("cerebras")})
_TORCH_STYLE_SCHEDULERS = [s for s in scheduler_specs("optim") if s.name not in ("lambdalr", "multiplicativelr",
                                                                                  "paramscheduler")]
_CEREBRAS_LR_SCHEDULERS = [s for s in scheduler_specs("cerebras")
                           if getattr(s.cls, "param_group_key", None) == "lr" and s.name not in (
                               "lambdalr", "scaleperparamlr", "chainedscheduler", "sequentiallr")]
_CEREBRAS_WD_SCHEDULERS = [s for s in scheduler_specs("cerebras")
                           if getattr(s.cls, "param_group_key", None) == "weight_decay" and s.name not in (
                               "lambdawd", "scaleperparamwd", "chainedwd", "sequentialwd")]
# A config value: YAML-representable (no tensors, no tuples: lists).
config_scalar = st.one_of(st.booleans(), st.none(), st.sampled_from(_TEXT), st.sampled_from(_SPECIAL),
                          st.integers(-3, 5), st.floats(allow_nan=True, allow_infinity=True))
config_bad = st.one_of(config_scalar, config_scalar, st.lists(config_scalar, max_size=4),
                       st.dictionaries(st.sampled_from(["a", "name", "scheduler"]), config_scalar, max_size=2))


def _config_good(argument: Any) -> st.SearchStrategy[Any]:
    default = argument.default
    if default is _EMPTY:
        return st.just(copy.deepcopy(_SCHEDULER_BASE.get(argument.name, 0.1)))
    if isinstance(default, tuple):
        return st.just(list(default))
    if isinstance(default, (bool, int, float, str)) or default is None:
        return st.just(default)
    return st.just(0.1)


def _config_value(argument: Any) -> st.SearchStrategy[Any]:
    return st.one_of(_config_good(argument), _config_good(argument), config_bad)


@st.composite
def _arguments_of(draw: st.DrawFn, cls: type, fixed: set[str], required: bool = True) -> dict[str, Any]:
    arguments = [a for a in _arguments(cls) if a.name not in fixed]
    out: dict[str, Any] = {}
    for argument in arguments:
        if argument.required and required and draw(st.integers(0, 9)) > 0:
            out[argument.name] = copy.deepcopy(_SCHEDULER_BASE.get(argument.name, 0.1))
    if arguments:
        for argument in draw(_some(arguments, 0, 3)):
            out[argument.name] = draw(_config_value(argument))
    if draw(st.integers(0, 14)) == 0:
        out[draw(st.sampled_from(["lrr", "betas1", "Momentum", "name2"]))] = 0.1
    return out


@st.composite
def torch_scheduler_section(draw: st.DrawFn, depth: int = 0) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(config_bad)
    if kind == 1 and depth == 0:  # the list form
        items = []
        for i in range(draw(st.integers(1, 3))):
            item = draw(torch_scheduler_section(depth=1))
            if isinstance(item, dict) and draw(st.integers(0, 4)) > 0:
                item["steps"] = draw(st.one_of(st.integers(0, 4), config_scalar))
            items.append(item)
        return items
    spec = draw(st.sampled_from(_TORCH_STYLE_SCHEDULERS))
    name = draw(st.one_of(st.just(spec.cls.__name__), st.just(spec.cls.__name__.lower()), _GARBAGE_NAME)) \
        if draw(st.integers(0, 9)) == 0 else spec.cls.__name__
    section: dict[str, Any] = {"name": name}
    section.update(draw(_arguments_of(spec.cls, _SCHEDULER_FIXED)))
    if spec.name in ("sequentiallr", "chainedscheduler"):
        if depth == 0:
            section["schedulers"] = draw(st.one_of(
                st.lists(torch_scheduler_section(depth=1), min_size=1, max_size=2), config_bad))
        else:
            section = {"name": "StepLR", "step_size": 2}
    return section


@st.composite
def cerebras_schedule(draw: st.DrawFn, key: str) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(config_bad)
    pool = _CEREBRAS_LR_SCHEDULERS if key == "lr" else _CEREBRAS_WD_SCHEDULERS
    if kind == 1:
        return [draw(cerebras_schedule_dict(pool)) for _ in range(draw(st.integers(1, 3)))]
    return draw(cerebras_schedule_dict(pool))


@st.composite
def cerebras_schedule_dict(draw: st.DrawFn, pool: list[Any]) -> Any:
    spec = draw(st.sampled_from(pool))
    name = spec.cls.__name__ if draw(st.integers(0, 9)) else draw(_GARBAGE_NAME)
    entry: dict[str, Any] = {"scheduler": name}
    entry.update(draw(_arguments_of(spec.cls, _SCHEDULER_FIXED)))
    return entry


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):  # torch style
        spec = draw(st.sampled_from(optimizer_specs("optim")))
        name: Any = draw(st.sampled_from([spec.cls.__name__, spec.name])) if draw(st.integers(0, 7)) else draw(
            _GARBAGE_NAME)
        section: dict[str, Any] = {"name": name, **draw(_arguments_of(spec.cls, _FIXED, required=True))}
        if spec.name == "lbfgs":
            for key in ("max_iter", "max_eval", "history_size"):
                if isinstance(section.get(key), int) and section[key] > 1000:
                    section[key] = 1000
        out: dict[str, Any] = {"optimizer": section}
        if draw(st.integers(0, 3)):
            out["scheduler"] = draw(torch_scheduler_section())
    else:  # Cerebras style
        spec = draw(st.sampled_from(optimizer_specs("cerebras")))
        name = spec.cls.__name__ if draw(st.integers(0, 7)) else draw(_GARBAGE_NAME)
        section = {"optimizer_type": name}
        fixed = _FIXED | {"lr", "weight_decay"}
        section.update(draw(_arguments_of(spec.cls, fixed, required=False)))
        lr = draw(st.integers(0, 5))
        if lr == 0:
            section["learning_rate"] = draw(config_bad)
        elif lr < 3:
            section["learning_rate"] = draw(st.sampled_from([0.1, 1e-3, "1e-3", 0]))
        else:
            section["learning_rate"] = draw(cerebras_schedule("lr"))
        wd = draw(st.integers(0, 5))
        if wd == 0:
            section["weight_decay"] = draw(config_bad)
        elif wd == 1:
            section["weight_decay"] = draw(cerebras_schedule("weight_decay"))
        elif wd == 2:
            section["weight_decay"] = 0.01
        if draw(st.integers(0, 9)) == 0:
            section["adjust_learning_rate"] = draw(st.one_of(
                config_bad, st.dictionaries(st.sampled_from(["weight", "bias", "1."]), config_scalar, max_size=2)))
        out = {"optimizer": section}
        if draw(st.integers(0, 19)) == 0:
            out["scheduler"] = {"name": "StepLR", "step_size": 2}
    if draw(st.integers(0, 19)) == 0:
        out[draw(st.sampled_from(["schedular", "train", "Optimizer", "3"]))] = draw(config_scalar)
    if draw(st.integers(0, 29)) == 0:
        out = draw(st.sampled_from([{}, {"scheduler": None}, {"optimizer": None}, {"optimizer": [1, 2]}]))
    return out


def _model() -> tuple[torch.nn.Module, list[torch.nn.Parameter]]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    return model, list(model.parameters())


class Escape(AssertionError):
    """An outcome that is not allowed (what the measurement counts): ``kind`` is ``"type"`` for
    an exception of another type (what the issue counted), ``"unnamed"`` for a ConfigError whose
    message names no key of the config where it points."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _config_names(error: ConfigError, data: Any) -> bool:
    """Whether the message names a key on the error's path, or a key of the mapping it points
    at (a schedule entry naming its bad argument)."""
    candidates = [p for p in error.path if isinstance(p, str)]
    node = data
    for part in error.path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
    if isinstance(node, dict):
        candidates += [k for k in node if isinstance(k, str)]
    if not candidates:
        return bool(str(error))
    return _names(error, candidates)


def run_config(source: Any, data: Any = None) -> None:
    """``config.load`` then three steps; raise :class:`Escape` for an outcome not allowed.
    ``data`` is the config as a dict (for a file: what it was written from, if known)."""
    model, params = _model()
    loaded, result = _attempt(lambda: config.load(source, params))
    if not loaded:
        if not isinstance(result, ConfigError):
            raise Escape(f"config.load raised {_describe(result)}", "type")
        if not _config_names(result, source if data is None else data):
            raise Escape(f"config.load: message names no key at {result.path!r}: {result}", "unnamed")
        return
    optimizer, scheduler = result

    def steps() -> None:
        x = torch.ones(4, 3)
        for i in range(3):
            optimizer.zero_grad()
            loss = model(x).pow(2).sum()
            if type(optimizer).__name__ == "LBFGS":
                def closure() -> torch.Tensor:
                    optimizer.zero_grad()
                    value = model(x).pow(2).sum()
                    value.backward()
                    return value
                optimizer.step(closure)
            else:
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                if _is_plateau(scheduler):
                    scheduler.step(float(loss))
                else:
                    scheduler.step()

    stepped, error = _attempt(steps)
    # torch's SparseAdam refuses the dense gradients of the tiny model at its step, as ours does.
    sparse_only = isinstance(error, RuntimeError) and str(error).startswith("SparseAdam does not support dense")
    if not stepped and not (isinstance(error, ALLOWED) or _momentum_buffer_left(error) or _overflow(error)
                            or sparse_only):
        raise Escape(f"stepping a loaded config raised {_describe(error)}", "type")


def _yaml_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _yaml_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_ready(v) for v in value]
    return value


_TMP = tempfile.TemporaryDirectory(prefix="optimkit-fuzz-")


def _write(text: str) -> str:
    path = Path(_TMP.name) / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@_settings("config_dict")
@given(configs())
def test_configs_as_dicts(data: dict[str, Any]) -> None:
    with _watchdog():
        run_config(data)


@_settings("config_yaml")
@given(configs())
def test_configs_as_yaml_files(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(_yaml_ready(data), sort_keys=False)
    with _watchdog():
        run_config(_write(text), data)


@st.composite
def garbled_yaml(draw: st.DrawFn) -> str:
    text = yaml.safe_dump(_yaml_ready(draw(configs())), sort_keys=False)
    cut = draw(st.integers(0, len(text)))
    noise = draw(st.sampled_from(["", "\t", ":", " - ", "{", "]", "&a", "*a", "!!python/object:os.system", "\x00",
                                  "---\n", "...", "optimizer: *x", "? "]))
    return text[:cut] + noise + text[cut:] if draw(st.booleans()) else text[:cut] + noise


@_settings("yaml_text")
@given(garbled_yaml())
def test_garbled_yaml_text(text: str) -> None:
    with _watchdog():
        run_config(_write(text))


# ----------------------------------------------------------------------- (c) optimizer states
_OLD_TORCH_KEYS = ("differentiable", "fused", "decoupled_weight_decay", "foreach", "maximize", "capturable")


def _fresh_optimizer(ns: str, spec: Any, params: list[torch.nn.Parameter], steps: int = 2) -> torch.optim.Optimizer:
    opt = spec.cls(params, **_required_optimizer_kwargs(spec))
    _steps(spec.name, opt, params, count=steps)
    return opt


_mutation = st.one_of(
    st.tuples(st.just("drop_top"), st.sampled_from(["state", "param_groups"])),
    st.tuples(st.just("top_value"), st.sampled_from(["state", "param_groups"]), config_bad),
    st.tuples(st.just("add_group")),
    st.tuples(st.just("drop_group")),
    st.tuples(st.just("drop_param_id"), st.integers(0, 3)),
    st.tuples(st.just("add_param_id"), st.integers(0, 3)),
    st.tuples(st.just("param_ids"), st.integers(0, 3), bad_value),
    st.tuples(st.just("drop_option"), st.integers(0, 40)),
    st.tuples(st.just("set_option"), st.integers(0, 40), bad_value),
    st.tuples(st.just("drop_entry"), st.integers(0, 40)),
    st.tuples(st.just("set_entry"), st.integers(0, 40), st.one_of(bad_value, st.sampled_from(
        ["shape", "scalar", "nan", "int64", "float16", "bool"]))),
    st.tuples(st.just("drop_param_state"), st.integers(0, 3)),
    st.tuples(st.just("foreign_entry"), st.integers(0, 3)),
    st.tuples(st.just("state_value"), st.integers(0, 3), bad_value),
    st.tuples(st.just("group_value"), bad_value),
    st.tuples(st.just("old_torch")),
    st.tuples(st.just("number_steps")),
)


def _pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)] if items else None


def _entry_value(kind: Any, current: Any) -> Any:
    if not isinstance(kind, str) or kind not in ("shape", "scalar", "nan", "int64", "float16", "bool"):
        return kind
    if not isinstance(current, torch.Tensor):
        return torch.zeros(3)
    if kind == "shape":
        return torch.zeros(current.numel() + 1)
    if kind == "scalar":
        return torch.tensor(1.0)
    if kind == "nan":
        return torch.full_like(current, NAN) if current.is_floating_point() else current
    if kind == "int64":
        return current.to(torch.int64)
    if kind == "float16":
        return current.to(torch.float16) if current.is_floating_point() else current
    return current.to(torch.bool)


def mutate(state_dict: Any, mutations: list[tuple[Any, ...]]) -> Any:
    """``state_dict`` (a deep copy) with each mutation applied where it can be."""
    sd = copy.deepcopy(state_dict)
    for mutation in mutations:
        kind = mutation[0]
        if not isinstance(sd, dict):
            break
        groups = sd.get("param_groups")
        state = sd.get("state")
        group_list = groups if isinstance(groups, list) else []
        dict_groups = [g for g in group_list if isinstance(g, dict)]
        ids = [i for g in dict_groups for i in (g.get("params") if isinstance(g.get("params"), list) else [])]
        state_ids = list(state) if isinstance(state, dict) else []
        if kind == "drop_top":
            sd.pop(mutation[1], None)
        elif kind == "top_value":
            sd[mutation[1]] = mutation[2]
        elif kind == "add_group" and dict_groups:
            extra = copy.deepcopy(dict_groups[-1])
            count = len(extra["params"]) if isinstance(extra.get("params"), list) else 1
            extra["params"] = [1000 + i for i in range(count)]
            group_list.append(extra)
        elif kind == "drop_group" and group_list:
            group_list.pop()
        elif kind == "drop_param_id" and dict_groups:
            group = _pick(dict_groups, mutation[1])
            if isinstance(group.get("params"), list) and group["params"]:
                group["params"].pop()
        elif kind == "add_param_id" and dict_groups:
            group = _pick(dict_groups, mutation[1])
            if isinstance(group.get("params"), list):
                group["params"].append(2000 + mutation[1])
        elif kind == "param_ids" and dict_groups:
            _pick(dict_groups, mutation[1])["params"] = mutation[2]
        elif kind in ("drop_option", "set_option") and dict_groups:
            group = _pick(dict_groups, mutation[1])
            options = [k for k in group if k != "params"]
            if options:
                key = _pick(options, mutation[1])
                if kind == "drop_option":
                    del group[key]
                else:
                    group[key] = mutation[2]
        elif kind in ("drop_entry", "set_entry") and state_ids:
            entry_state = state[_pick(state_ids, mutation[1])]
            if isinstance(entry_state, dict) and entry_state:
                key = _pick(list(entry_state), mutation[1])
                if kind == "drop_entry":
                    del entry_state[key]
                else:
                    entry_state[key] = _entry_value(mutation[2], entry_state[key])
        elif kind == "drop_param_state" and state_ids:
            del state[_pick(state_ids, mutation[1])]
        elif kind == "foreign_entry" and state_ids:
            entry_state = state[_pick(state_ids, mutation[1])]
            if isinstance(entry_state, dict):
                entry_state["beta1_power"] = torch.tensor(0.9)
        elif kind == "state_value" and state_ids:
            state[_pick(state_ids, mutation[1])] = mutation[2]
        elif kind == "group_value" and group_list:
            group_list[-1] = mutation[1]
        elif kind == "old_torch":
            for group in dict_groups:
                for key in _OLD_TORCH_KEYS:
                    group.pop(key, None)
        elif kind == "number_steps" and isinstance(state, dict):
            for entry_state in state.values():
                if isinstance(entry_state, dict) and isinstance(entry_state.get("step"), torch.Tensor):
                    entry_state["step"] = float(entry_state["step"].item())
        del ids
    return sd


_TORCH_LOAD_MESSAGES = (
    "loaded state dict has a different number of parameter groups",
    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group",
)


@st.composite
def optimizer_state_cases(draw: st.DrawFn) -> tuple[str, Any, str, Any, list[tuple[Any, ...]], Any]:
    ns, spec = draw(st.sampled_from(OPTIMIZERS))
    donor_kind = draw(st.sampled_from(["same", "same", "other", "torch", "raw"]))
    donor = spec
    donor_ns = ns
    if donor_kind == "other":
        donor_ns, donor = draw(st.sampled_from(OPTIMIZERS))
    raw = draw(bad_value) if donor_kind == "raw" else None
    mutations = draw(st.lists(_mutation, min_size=0 if donor_kind != "same" else 1, max_size=3))
    return ns, spec, donor_kind, (donor_ns, donor), mutations, raw


def _donor_state(spec: Any, donor_kind: str, donor: tuple[str, Any], raw: Any) -> Any:
    if donor_kind == "raw":
        return raw
    donor_ns, donor_spec = donor
    if donor_kind == "torch":
        torch_cls = _torch_class("optim", spec) if spec.torch_name else None
        if torch_cls is None:
            return {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}
        params = _params(spec.name)
        opt = torch_cls(params, **_required_optimizer_kwargs(spec))
        _steps(spec.name, opt, params, count=2)
        return opt.state_dict()
    params = _params(spec.name) if donor_spec.name not in ("sparseadam", "muon") else _params(donor_spec.name)
    try:
        opt = _fresh_optimizer(donor_ns, donor_spec, params)
    except Exception:  # noqa: BLE001 - a donor that cannot step on these parameters
        opt = donor_spec.cls(params, **_required_optimizer_kwargs(donor_spec))
    return opt.state_dict()


def check_optimizer_load(ns: str, spec: Any, donor_kind: str, donor: tuple[str, Any],
                         mutations: list[tuple[Any, ...]], raw: Any) -> None:
    params = _params(spec.name)
    target = _fresh_optimizer(ns, spec, params)
    loaded_dict = mutate(_donor_state(spec, donor_kind, donor, raw), mutations)
    before = copy.deepcopy(target.state_dict())
    before_params = [p.detach().clone() for p in params]
    loaded, error = _attempt(lambda: target.load_state_dict(loaded_dict))
    torch_cls = _torch_class(ns, spec)
    if torch_cls is not None and isinstance(loaded_dict, dict):
        tparams = _params(spec.name)
        theirs = torch_cls(tparams, **_required_optimizer_kwargs(spec))
        _steps(spec.name, theirs, tparams, count=2)
        torch_loaded, torch_error = _attempt(lambda: theirs.load_state_dict(copy.deepcopy(loaded_dict)))
        if not torch_loaded and isinstance(torch_error, ValueError) and str(torch_error) in _TORCH_LOAD_MESSAGES:
            assert not loaded and type(error) is ValueError and str(error) == str(torch_error), (
                f"torch: {_describe(torch_error)}; optimkit: {'loads' if loaded else _describe(error)}")
    if not loaded:
        assert isinstance(error, ALLOWED), f"{spec.cls.__name__}.load_state_dict: {_describe(error)} for {mutations}"
        assert str(error), "an empty message"
        after = target.state_dict()
        assert _same(after, before), f"{spec.cls.__name__}: a failed load_state_dict changed the optimizer"
        assert all(torch.equal(p, q) for p, q in zip(params, before_params))
        return
    stepped, error = _attempt(lambda: _steps(spec.name, target, params, count=1, first_seed=7))
    # torch's LBFGS accepts any line_search_fn and refuses all but one at the step, as ours.
    lbfgs_search = isinstance(error, RuntimeError) and str(error) == "only 'strong_wolfe' is supported"
    assert stepped or isinstance(error, ALLOWED) or lbfgs_search or _overflow(error), (
        f"{spec.cls.__name__}: loaded {mutations} ({donor_kind}), then the step raised {_describe(error)}")


@_settings("optimizer_state")
@given(optimizer_state_cases())
def test_optimizer_load_state_dict(case: Any) -> None:
    with _watchdog():
        check_optimizer_load(*case)


# ----------------------------------------------------------------------- (c) scheduler states
_STATE_SCHEDULERS = [(ns, spec) for ns, spec in SCHEDULERS]

_scheduler_mutation = st.one_of(
    st.tuples(st.just("drop_key"), st.integers(0, 40)),
    st.tuples(st.just("set_key"), st.integers(0, 40), bad_value),
    st.tuples(st.just("extra_key"), st.sampled_from(["verbose", "foo", "_step_count2"]), config_scalar),
    st.tuples(st.just("per_group_length"), st.integers(0, 3)),
    st.tuples(st.just("child"), st.integers(0, 40), bad_value),
)


def _scheduler_mutate(sd: Any, mutations: list[tuple[Any, ...]]) -> Any:
    sd = copy.deepcopy(sd)
    for mutation in mutations:
        if not isinstance(sd, dict):
            break
        keys = list(sd)
        kind = mutation[0]
        if kind == "drop_key" and keys:
            del sd[_pick(keys, mutation[1])]
        elif kind == "set_key" and keys:
            sd[_pick(keys, mutation[1])] = mutation[2]
        elif kind == "extra_key":
            sd[mutation[1]] = mutation[2]
        elif kind == "per_group_length":
            for key in ("base_lrs", "_last_lr", "min_lrs", "base_values", "_last_values"):
                if isinstance(sd.get(key), list):
                    sd[key] = sd[key] * (mutation[1] + 2) if mutation[1] else []
        elif kind == "child":
            children = sd.get("_schedulers")
            if isinstance(children, list) and children and isinstance(children[0], dict) and children[0]:
                child = children[0]
                child[_pick(list(child), mutation[1])] = mutation[2]
    return sd


@st.composite
def scheduler_state_cases(draw: st.DrawFn) -> tuple[str, Any, Any, list[tuple[Any, ...]], Any]:
    ns, spec = draw(st.sampled_from(_STATE_SCHEDULERS))
    donor_kind = draw(st.sampled_from(["same", "same", "same", "other", "torch", "raw"]))
    donor: Any = (ns, spec)
    if donor_kind == "other":
        donor = draw(st.sampled_from(_STATE_SCHEDULERS))
    raw = draw(bad_value) if donor_kind == "raw" else None
    mutations = draw(st.lists(_scheduler_mutation, min_size=1 if donor_kind == "same" else 0, max_size=3))
    return ns, spec, (donor_kind, donor), mutations, raw


def _stepped_scheduler(family: str, ns: str, spec: Any) -> tuple[Any, torch.optim.Optimizer, list[Any]]:
    opt, params = _scheduler_optimizer(family)
    scheduler = _build_scheduler(family, ns, spec, opt, {})
    _steps("sgd", opt, params, scheduler, count=2)
    return scheduler, opt, params


def check_scheduler_load(ns: str, spec: Any, donor: tuple[str, Any], mutations: list[tuple[Any, ...]], raw: Any) -> None:
    family = "optim" if ns == "optim" else "cerebras"
    target, opt, params = _stepped_scheduler(family, ns, spec)
    donor_kind, (donor_ns, donor_spec) = donor
    if donor_kind == "raw":
        source: Any = raw
    elif donor_kind == "torch":
        if _torch_class(ns, spec) is None:
            return
        source = _stepped_scheduler("torch", ns, spec)[0].state_dict()
    else:
        donor_family = "optim" if donor_ns == "optim" else "cerebras"
        source = _stepped_scheduler(donor_family, donor_ns, donor_spec)[0].state_dict()
    loaded_dict = _scheduler_mutate(source, mutations)
    before = copy.deepcopy(target.state_dict())
    before_opt = copy.deepcopy(opt.state_dict())
    loaded, error = _attempt(lambda: target.load_state_dict(loaded_dict))
    if not loaded:
        assert isinstance(error, ALLOWED), f"{type(target).__name__}.load_state_dict: {_describe(error)} ({mutations})"
        assert str(error)
        assert _same(target.state_dict(), before), f"{type(target).__name__}: a failed load changed the scheduler"
        assert _same(opt.state_dict(), before_opt), f"{type(target).__name__}: a failed load changed the optimizer"
        return
    stepped, error = _attempt(lambda: _steps("sgd", opt, params, target, count=2, first_seed=5))
    assert stepped or isinstance(error, ALLOWED) or _momentum_buffer_left(error), (
        f"{type(target).__name__}: loaded {mutations} ({donor_kind}), then stepping raised {_describe(error)}")


@_settings("scheduler_state")
@given(scheduler_state_cases())
def test_scheduler_load_state_dict(case: Any) -> None:
    with _watchdog():
        check_scheduler_load(*case)


# ------------------------------------------------------------------- specific cases, pinned
def test_the_escapes_of_the_issue_are_config_errors() -> None:
    model, params = _model()
    for section, key in (
        ({"optimizer_type": 3, "learning_rate": 0.1}, "optimizer_type"),
        ({"optimizer_type": "AdamW", "learning_rate": 0.1, "betas": [0.9]}, "betas"),
        ({"optimizer_type": "AdamW", "learning_rate": 0.1, "weight_decay": True}, "weight_decay"),
        ({"name": "Adam", "weight_decay": True}, "weight_decay"),
        ({"name": "Adam", "betas": [0.9]}, "betas"),
    ):
        with pytest.raises(ConfigError) as caught:
            config.load({"optimizer": section}, params)
        assert key in str(caught.value) and caught.value.path[-1] == key, str(caught.value)


def test_torch_classes_keep_torch_errors_for_the_same_input() -> None:
    # torch raises IndexError for a one-element betas and TypeError for comparisons, and accepts
    # a bool weight_decay: a torch-named class does the same (the config loader does not).
    w = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(IndexError):
        torch.optim.Adam([w], betas=(0.9,))
    with pytest.raises(IndexError):
        ok.Adam([w], betas=(0.9,))
    ok.Adam([w], weight_decay=True)
    torch.optim.Adam([w], weight_decay=True)


def test_non_torch_classes_check_types() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    from optimkit.cerebras.optim import AdamW
    with pytest.raises(ValueError, match="betas"):
        AdamW([w], betas=(0.9,))
    with pytest.raises(TypeError, match="weight_decay"):
        AdamW([w], weight_decay=True)
    with pytest.raises(TypeError, match="lr"):
        ok.Lamb([w], lr="0.1")


def test_failed_load_puts_the_optimizer_back_even_after_a_post_hook_raises() -> None:
    params = _params("adam")
    opt = ok.Adam(params, lr=0.1)
    _steps("adam", opt, params)
    before = copy.deepcopy(opt.state_dict())
    donor = copy.deepcopy(opt.state_dict())
    donor["param_groups"][0]["lr"] = 0.5

    def hook(optimizer: Any) -> None:
        raise RuntimeError("post-hook failed")

    handle = opt.register_load_state_dict_post_hook(hook)
    with pytest.raises(RuntimeError, match="post-hook failed"):
        opt.load_state_dict(donor)
    handle.remove()
    assert _same(opt.state_dict(), before)
    opt.load_state_dict(donor)
    assert opt.param_groups[0]["lr"] == 0.5


def test_torch_messages_and_layouts_of_state_dicts() -> None:
    params = _params("adamw")
    opt = ok.AdamW(params, lr=0.1)
    _steps("adamw", opt, params)
    with pytest.raises(TypeError, match="must be a dict"):
        opt.load_state_dict(None)  # type: ignore[arg-type]  (torch: AttributeError)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="^loaded state dict has a different number of parameter groups$"):
        opt.load_state_dict({**sd, "param_groups": sd["param_groups"] * 2})
    short = copy.deepcopy(sd)
    short["param_groups"][0]["params"] = short["param_groups"][0]["params"][:1]
    with pytest.raises(ValueError, match="^loaded state dict contains a parameter group that doesn't match"):
        opt.load_state_dict(short)
    with pytest.raises(TypeError, match="'betas'"):
        bad = copy.deepcopy(sd)
        bad["param_groups"][0]["betas"] = (0.9,)
        opt.load_state_dict(bad)
    # An older torch's layout: torch fills the newer options with their defaults, and so do we.
    old = copy.deepcopy(sd)
    for key in ("differentiable", "fused", "decoupled_weight_decay", "capturable", "maximize", "foreach"):
        old["param_groups"][0].pop(key)
    for state in old["state"].values():
        state["step"] = float(state["step"])
    theirs = torch.optim.AdamW(_params("adamw"), lr=0.1)
    theirs.load_state_dict(copy.deepcopy(old))
    opt.load_state_dict(old)
    ours_group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    torch_group = {k: v for k, v in theirs.param_groups[0].items() if k != "params"}
    assert ours_group == torch_group
    assert all(isinstance(state["step"], torch.Tensor) for state in opt.state.values())


@pytest.mark.xfail(strict=True, reason="sgd.py's rules compare `0.0 <= lr` where torch's SGD compares `lr < 0.0` "
                                       "(NaN accepted by torch; other operand order in the TypeError)")
def test_pending_sgd_comparison_form() -> None:
    torch.optim.SGD(_params("sgd"), lr=NAN)
    ok.SGD(_params("sgd"), lr=NAN)  # torch accepts it


def test_fixed_fused_kernel_flag_types() -> None:
    """A torch-accepted non-bool flag keeps torch's default (the for-loop), not the fused kernel,
    which raises TypeError for it: the same numbers as torch.optim."""
    params, theirs = _params("adam"), _params("adam")
    opt, reference = ok.Adam(params, amsgrad=0), torch.optim.Adam(theirs, amsgrad=0)
    _steps("adam", opt, params)
    _steps("adam", reference, theirs)
    assert all(torch.equal(a, b) for a, b in zip(params, theirs))


def test_fixed_differentiable_not_bool() -> None:
    params = _params("sgd")
    opt = ok.SGD(params, lr=0.1, differentiable="x")
    with pytest.raises(TypeError):
        _steps("sgd", opt, params)


def test_fixed_sgd_momentum_zero_after_buffers() -> None:
    params = _params("sgd")
    opt = ok.SGD(params, lr=0.1, momentum=0.9)
    sched = O.OneCycleLR(opt, max_lr=0.1, total_steps=10, base_momentum=0.0)
    _steps("sgd", opt, params, sched)


@pytest.mark.xfail(strict=True, reason="rprop.py indexes step_sizes (IndexError) where torch unpacks it (ValueError)")
def test_pending_rprop_step_sizes() -> None:
    params = _params("rprop")
    opt = ok.Rprop(params, step_sizes=(1e-6,))
    with pytest.raises(ValueError):
        _steps("rprop", opt, params)


def test_fixed_cerebras_adafactor_types() -> None:
    from optimkit.cerebras.optim import Adafactor
    with pytest.raises(TypeError, match="weight_decay"):
        Adafactor(_params("adafactor"), lr=0.01, weight_decay=True)


@pytest.mark.xfail(strict=True, reason="a multi-element tensor lr (set by ExponentialLR(gamma=tensor([..]))) makes "
                                       "optimkit's step raise RuntimeError where torch's raises TypeError")
def test_pending_tensor_lr_in_step() -> None:
    params = _params("sgd")
    opt = ok.SGD(params, lr=0.1, momentum=0.9)
    sched = O.ExponentialLR(opt, gamma=torch.tensor([0.5, 0.25]))
    with pytest.raises(TypeError):
        _steps("sgd", opt, params, sched)


def _spec(ns: str, name: str) -> Any:
    return next(spec for spec in (optimizer_specs(ns) + scheduler_specs(ns)) if spec.name == name)


# ------------------------------------------------------------------------- the measurement
def config_escapes(count: int) -> tuple[dict[str, int], list[str]]:
    """Run ``count`` generated configs (dicts) through ``config.load`` and three steps; return
    how many escape, by kind (see :class:`Escape`), and their first lines."""
    escapes: list[str] = []
    kinds = {"type": 0, "unnamed": 0}

    @settings(derandomize=True, max_examples=count, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(configs())
    def one(data: dict[str, Any]) -> None:
        try:
            with _watchdog():
                run_config(data)
        except (Escape, Hang) as escape:
            kinds[getattr(escape, "kind", "type")] += 1
            escapes.append(str(escape).splitlines()[0][:200])

    one()
    return kinds, escapes


def test_config_measurement_has_no_escapes() -> None:
    kinds, messages = config_escapes(100)
    assert sum(kinds.values()) == 0, messages[:5]


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.set_num_threads(1)
        kinds, messages = config_escapes(total)
    print(f"{sum(kinds.values())} of {total} generated configs escape: {kinds['type']} as another error type "
          f"(or a hang), {kinds['unnamed']} as a ConfigError whose message names no key")
    for message in sorted(set(messages)):
        print("  ", message)
