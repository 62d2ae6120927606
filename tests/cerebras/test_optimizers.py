"""The Cerebras optimizers: documented signatures and defaults, thin facades over optimkit.optim,
every class with an oracle that shares no code with optimkit, and what is Cerebras' own (the
global step, ``correct_bias`` per group, the abstract base, Adafactor's state layout).

What Cerebras documents for each class, its configurations and its oracle are entries of the test
database (``tests/cerebras_db``, namespace ``"cerebras"`` of ``tests/_db.py``); the comparisons
with the oracles, preinitialize against lazy state and the other generic tests are generated from
it in ``tests/cerebras/test_generic.py``."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from torch import Tensor

import optimkit.cerebras.optim as cs
import optimkit.optim as ok
from optimkit.registry import list_optimizers, optimizer_specs
from tests._db import REQUIRED, CerebrasInputs, DBEntry, TorchOracle, entries
from tests.cerebras._references import ElementOracle, adamw_no_correction_reference, as_tensor

#: The Cerebras entries of the database, by registry name.
CEREBRAS: dict[str, DBEntry] = entries("cerebras")


def _inputs(entry: DBEntry) -> CerebrasInputs:
    assert isinstance(entry.inputs, CerebrasInputs)
    return entry.inputs


# By class name, read from the database (tests/cerebras/test_facades.py uses them): Cerebras'
# documented arguments after ``params`` with their defaults, and the classes Cerebras constructs
# with enable_global_step=True.
DOCUMENTED: dict[str, list[tuple[str, Any]]] = {
    entry.cls.__name__: list(_inputs(entry).documented) for entry in CEREBRAS.values()
}
GLOBAL_STEP = {entry.cls.__name__ for entry in CEREBRAS.values() if _inputs(entry).global_step}
# The exported classes that are no optimizer of their own: Cerebras' abstract bases.
ABSTRACT_BASES = {"Optimizer", "AdamBase"}
STEPS = 10
# float64 throughout: the two implementations may only differ by rounding.
RTOL, ATOL = 1e-12, 1e-14


def _exported_optimizers() -> set[str]:
    return {
        name for name in cs.__all__
        if inspect.isclass(getattr(cs, name)) and issubclass(getattr(cs, name), torch.optim.Optimizer)
    } - ABSTRACT_BASES


def _params(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (2, 3, 2), (4,)]
    return [torch.nn.Parameter(torch.randn(s, dtype=torch.float64, generator=g)) for s in shapes]


def _grads(params: list[Tensor], steps: int, seed: int = 1) -> list[list[Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(p.shape, dtype=p.dtype, generator=g) for p in params] for _ in range(steps)]


# ------------------------------------------------------------------------ the documented API
def test_registry_lists_every_documented_optimizer() -> None:
    """The registry, the exports and the database have the same Cerebras classes, each with its
    documented signature."""
    classes = {spec.cls.__name__ for spec in optimizer_specs(namespace="cerebras")}
    assert classes == set(DOCUMENTED) == _exported_optimizers()
    assert list_optimizers(namespace="cerebras") == sorted(CEREBRAS) == sorted(name.lower() for name in DOCUMENTED)
    assert all(DOCUMENTED.values())
    # The torch-facing registry is untouched by the Cerebras classes.
    assert all(spec.cls.__module__.startswith("optimkit.optim") for spec in optimizer_specs())


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_signature_and_defaults_as_documented(name: str) -> None:
    parameters = list(inspect.signature(getattr(cs, name).__init__).parameters.values())
    assert [p.name for p in parameters[:2]] == ["self", "params"]
    assert [(p.name, p.default) for p in parameters[2:]] == DOCUMENTED[name]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_defaults_and_global_step(name: str) -> None:
    cls = getattr(cs, name)
    required = {key: 0.1 for key, default in DOCUMENTED[name] if default is REQUIRED}
    opt = cls([torch.nn.Parameter(torch.zeros(2, 2))], **required)
    for key, default in DOCUMENTED[name]:
        assert opt.defaults[key] == (0.1 if default is REQUIRED else default), key
    assert opt.enable_global_step is (name in GLOBAL_STEP)
    assert isinstance(opt, cs.Optimizer) and isinstance(opt, torch.optim.Optimizer)


@pytest.mark.parametrize("name", sorted(set(DOCUMENTED) - {"Adafactor"}))
def test_facades_reuse_the_optimkit_rule(name: str) -> None:
    cls, parent = getattr(cs, name), getattr(ok, name)
    assert issubclass(cls, parent)
    assert cls._rule is parent._rule and "_rule" not in vars(cls)


def test_adafactor_rule_is_written_once() -> None:
    from optimkit.optim._hf_adafactor import hf_adafactor_rule

    assert cs.Adafactor._rule is hf_adafactor_rule


# ---------------------------------------------------------------- an independent oracle each
def test_every_cerebras_optimizer_has_an_independent_oracle() -> None:
    """Every exported class has a database entry, and every configuration of it exactly one oracle:
    torch.optim's class of the same algorithm where torch has one, a per-element reference of
    tests/cerebras/_references.py otherwise; neither is optimkit code."""
    assert {entry.cls.__name__ for entry in CEREBRAS.values()} == _exported_optimizers()
    with_torch, with_reference = set(), set()
    for entry in CEREBRAS.values():
        inputs = _inputs(entry)
        assert inputs.configs and inputs.oracles, entry.name
        for config in inputs.configs:
            oracles = inputs.oracles_for(config)
            assert len(oracles) == 1, (entry.name, config, oracles)
        for oracle in inputs.oracles:
            if isinstance(oracle, TorchOracle):
                assert oracle.cls is getattr(torch.optim, oracle.cls.__name__), entry.name
                assert oracle.cls.__name__ == entry.cls.__name__ and not issubclass(oracle.cls, ok.Optimizer)
                with_torch.add(entry.cls.__name__)
            else:
                assert isinstance(oracle, ElementOracle), entry.name
                assert oracle.function.__module__ == "tests.cerebras._references", entry.name
                with_reference.add(entry.cls.__name__)
    # torch.optim has no Lamb or Lion, and its Adafactor is another algorithm; torch's AdamW always
    # corrects the bias.
    assert with_reference == {"Adafactor", "Lamb", "Lion", "AdamW"}
    assert with_torch == _exported_optimizers() - {"Adafactor", "Lamb", "Lion"}


def test_sgd_without_momentum_has_no_state_but_the_global_step_when_asked() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    assert dict(cs.SGD([w], lr=0.1).state) == {}
    opt = cs.Adagrad([w])
    assert opt.state[w]["global_step"].dtype == torch.float32
    assert opt.state_names_to_sparsify() == ["sum"]


# ------------------------------------------------------------- a Cerebras-style subclass
class _Momentum(cs.Optimizer):
    """Heavy-ball SGD written against the abstract base, the way Cerebras documents it."""

    def __init__(self, params: Any, lr: float = 0.1, momentum: float = 0.9) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum}, enable_global_step=True)

    def preinitialize(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["buf"] = torch.zeros_like(p)

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.increment_global_step(p)
                    buf = self.state[p]["buf"]
                    buf.mul_(group["momentum"]).add_(p.grad)
                    p.add_(buf, alpha=-group["lr"])


def test_custom_subclass_gets_state_and_global_step_from_the_constructor() -> None:
    w = torch.nn.Parameter(torch.ones(3))
    opt = _Momentum([w])
    assert sorted(opt.state[w]) == ["buf", "global_step"]
    assert opt.state_names_to_sparsify() == []  # its state is not optimkit's: nothing is known
    for _ in range(3):
        w.grad = torch.ones(3)
        opt.step()
    assert opt.state[w]["global_step"].item() == 3
    # buf: 1, 1.9, 2.71 -> w = 1 - 0.1 * 5.61
    torch.testing.assert_close(w.detach(), torch.full((3,), 1 - 0.561))


def test_base_keeps_step_and_preinitialize_abstract() -> None:
    class OnlyStep(cs.Optimizer):
        def step(self, closure: Any = None) -> None:
            pass

    with pytest.raises(TypeError, match="preinitialize"):
        OnlyStep([torch.nn.Parameter(torch.ones(1))], {})
    assert cs.Optimizer.__abstractmethods__ == frozenset({"preinitialize", "step"})


# ------------------------------------------------------------------ correct_bias per group
def _flat(t: Tensor) -> list[float]:
    return t.detach().reshape(-1).tolist()


def _assert_close(actual: Any, expected: Any, what: str) -> None:
    torch.testing.assert_close(torch.as_tensor(actual), torch.as_tensor(expected), rtol=RTOL, atol=ATOL,
                               msg=lambda m: f"{what}: {m}")


def test_correct_bias_is_per_group() -> None:
    """A group with ``correct_bias=False`` follows BERT's Adam; the other group is torch's AdamW
    (both with the documented defaults but ``lr``)."""
    documented = {**_inputs(CEREBRAS["adamw"]).documented_defaults(), "lr": 0.01}
    assert documented.pop("correct_bias") is True
    beta1, beta2 = documented["betas"]
    ours, theirs = _params(), _params()
    opt = cs.AdamW([{"params": ours[:1], "correct_bias": False}, {"params": ours[1:]}], lr=0.01)
    ref = torch.optim.AdamW(theirs[1:], **documented)
    all_grads = _grads(ours, STEPS)
    bert = adamw_no_correction_reference(_flat(ours[0]), [_flat(grads[0]) for grads in all_grads], lr=0.01,
                                         beta1=beta1, beta2=beta2, eps=documented["eps"],
                                         weight_decay=documented["weight_decay"], amsgrad=documented["amsgrad"])
    for step, grads in enumerate(all_grads, start=1):
        for a, b, grad in zip(ours, theirs, grads):
            a.grad, b.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
        _assert_close(ours[0].detach().reshape(-1), as_tensor(bert.params[step - 1]), f"parameter 0 after step {step}")
        for index, (a, b) in enumerate(zip(ours[1:], theirs[1:]), start=1):
            _assert_close(a.detach(), b.detach(), f"parameter {index} after step {step}")
    # The two rules really differ on these steps (else the test above could not tell them apart).
    corrected = torch.optim.AdamW([theirs[0]], **documented)
    for grads in all_grads:
        theirs[0].grad = grads[0].clone()
        corrected.step()
    assert not torch.allclose(ours[0], theirs[0], rtol=1e-3, atol=0)


# ------------------------------------------------------------ Hugging Face-style Adafactor
def test_hf_adafactor_state_layout() -> None:
    """Hugging Face's state names and shapes, so that checkpoints carry over (its errors are error
    inputs of the database)."""
    w, b = torch.nn.Parameter(torch.zeros(2, 3, 4)), torch.nn.Parameter(torch.zeros(4))
    opt = cs.Adafactor([w, b], lr=0.1, beta1=0.9)
    assert list(opt.state[w]) == ["step", "exp_avg", "exp_avg_sq_row", "exp_avg_sq_col", "global_step"]
    assert opt.state[w]["exp_avg_sq_row"].shape == (2, 3) and opt.state[w]["exp_avg_sq_col"].shape == (2, 4)
    assert list(opt.state[b]) == ["step", "exp_avg", "exp_avg_sq", "global_step"]
