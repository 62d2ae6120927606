"""Issue 15, part 3 (a): with every registered optimizer, pruned entries stay exactly zero in the
parameters and in every state the optimizer names in ``state_names_to_sparsify()``, over
several steps, with a static mask and with GMP's shrinking one."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
import torch

import optimkit
from optimkit.registry import NAMESPACES, OptimizerSpec, optimizer_specs
from optimkit.sparsity import attached, configure

SPECS = [spec for namespace in NAMESPACES for spec in optimizer_specs(namespace)]

# Arguments that make each optimizer keep state (SGD's momentum buffer) or that it requires.
EXTRA: dict[str, dict[str, Any]] = {"sgd": {"momentum": 0.9}, "lbfgs": {"lr": 0.5, "history_size": 3}}

CONFIGS = {
    "static": {"algorithm": "static", "sparsity": 0.6},
    # Masks shrink at steps 2 and 4: entries pruned mid-run must leave the states too.
    "gmp": {"algorithm": "gmp", "sparsity": 0.7, "schedule": {"start": 0, "end": 4, "freq": 2, "initial_sparsity": 0.2}},
}


def _model(spec: OptimizerSpec) -> torch.nn.Module:
    torch.manual_seed(0)
    if spec.name == "sparseadam":  # sparse gradients: an embedding with sparse=True
        return torch.nn.Embedding(7, 5, sparse=True)
    # Muon takes 2-D parameters only.
    return torch.nn.Linear(6, 5, bias=spec.name != "muon")


def _loss(model: torch.nn.Module, step: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(step)
    if isinstance(model, torch.nn.Embedding):
        return model(torch.randint(0, 7, (12,), generator=generator)).pow(2).sum()
    x = torch.randn(8, 6, generator=generator)
    return (model(x) - 1).pow(2).mean()


def _optimizer(spec: OptimizerSpec, model: torch.nn.Module) -> torch.optim.Optimizer:
    kwargs = dict(EXTRA.get(spec.name, {}))
    lr = inspect.signature(spec.cls).parameters.get("lr")
    if lr is not None and lr.default is lr.empty:
        kwargs.setdefault("lr", 0.01)  # Cerebras' SGD and Adafactor require it
    return spec.cls(model.parameters(), **kwargs)


def _check_zeros(opt: torch.optim.Optimizer, named: list[str], what: str) -> int:
    """Assert every pruned entry is zero in each parameter and named state; return how many
    named states were checked."""
    algorithm = attached(opt)
    assert algorithm is not None
    checked = 0
    for p, mask in algorithm.masks.items():
        pruned = ~mask
        assert pruned.any(), what
        assert bool((p.detach()[pruned] == 0).all()), f"{what}: parameter"
        for key in named:
            value = opt.state[p].get(key)
            if isinstance(value, torch.Tensor) and value.shape == p.shape:
                assert bool((value[pruned] == 0).all()), f"{what}: state {key!r}"
                checked += 1
    return checked


@pytest.mark.parametrize("algorithm", list(CONFIGS))
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.namespace}:{s.name}")
def test_pruned_entries_stay_zero(spec: OptimizerSpec, algorithm: str) -> None:
    model = _model(spec)
    opt = _optimizer(spec, model)
    config = dict(CONFIGS[algorithm])
    if spec.name == "adafactor":
        # A matrix's second moment is factored (row_var, col_var: not shaped like it); the bias
        # keeps a full `variance`: sparsify every parameter (a predicate) so that one is masked.
        config["params"] = lambda name, p: True
    sparsity = configure(opt, config)
    named = opt.state_names_to_sparsify()
    checked = 0
    for step in range(6):
        if spec.name == "lbfgs":  # LBFGS re-evaluates the loss: the closure computes the gradients
            def closure(step: int = step) -> torch.Tensor:
                opt.zero_grad()
                loss = _loss(model, step)
                loss.backward()
                return loss
            opt.step(closure)
        else:
            opt.zero_grad()
            _loss(model, step).backward()
            opt.step()
        sparsity.step()
        checked += _check_zeros(opt, named, f"{spec.namespace}:{spec.name} step {step}")
    # Every state the optimizer names was there to check (LBFGS names none).
    states = {key for p in sparsity.masks for key in opt.state[p] if key in named}
    assert states == set(named) and checked >= len(named), (named, states, checked)
    if algorithm == "gmp":
        assert sparsity.actual_sparsity() == pytest.approx(0.7, abs=0.02)


@pytest.mark.parametrize("options", [{"foreach": True}, {"fused": True}, {"amsgrad": True, "foreach": False}],
                         ids=["foreach", "fused", "amsgrad"])
def test_every_executor_and_optional_state(options: dict[str, Any]) -> None:
    # The states of the foreach and fused paths and AMSGrad's max_exp_avg_sq are masked as well.
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 5)
    opt = optimkit.optim.Adam(model.parameters(), lr=0.05, **options)
    sparsity = configure(opt, CONFIGS["gmp"])
    named = opt.state_names_to_sparsify()
    assert ("max_exp_avg_sq" in named) == bool(options.get("amsgrad"))
    for step in range(6):
        opt.zero_grad()
        _loss(model, step).backward()
        opt.step()
        sparsity.step()
        assert _check_zeros(opt, named, str(options)) == len(named)


def test_flat_buffers() -> None:
    # optimkit.flatten_parameters: parameters, gradients and states are views of flat buffers,
    # masked in place.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 4))
    optimkit.flatten_parameters(model)
    opt = optimkit.optim.AdamW(model.parameters(), lr=0.05)
    sparsity = configure(opt, {"algorithm": "static", "sparsity": 0.5})
    for step in range(4):
        opt.zero_grad()
        model(torch.randn(4, 8, generator=torch.Generator().manual_seed(step))).pow(2).mean().backward()
        opt.step()
        sparsity.step()
        assert _check_zeros(opt, ["exp_avg", "exp_avg_sq"], "flat") == 4


@pytest.mark.parametrize("make", [lambda p: torch.optim.Adam(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)],
                         ids=["torch-adam", "torch-sgd"])
def test_torch_optimizers_without_state_names(make: Callable[[Any], torch.optim.Optimizer]) -> None:
    # torch's own optimizers name no states: every state shaped like the parameter is masked.
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 5)
    opt = make(model.parameters())
    sparsity = configure(opt, CONFIGS["static"])
    for step in range(3):
        opt.zero_grad()
        _loss(model, step).backward()
        opt.step()
        sparsity.step()
    shaped = [k for k, v in opt.state[model.weight].items() if isinstance(v, torch.Tensor) and v.dim() > 0]
    assert shaped and _check_zeros(opt, shaped, "torch") == len(shaped)


def test_gradients_are_masked_before_the_step() -> None:
    # Lamb's trust ratio reads the whole update: a pruned entry's gradient must not reach it. The
    # run equals one with the same mask where the gradients, parameters and states are zeroed by hand.
    def lamb() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = torch.nn.Linear(6, 5, bias=False)
        return model, optimkit.optim.Lamb(model.parameters(), lr=0.05)

    model, opt = lamb()
    sparsity = configure(opt, {"algorithm": "static", "sparsity": 0.5})
    mask = sparsity.masks[model.weight]
    for step in range(3):
        opt.zero_grad()
        _loss(model, step).backward()
        opt.step()
        sparsity.step()

    reference, ref_opt = lamb()
    with torch.no_grad():
        reference.weight.mul_(mask)
    for step in range(3):
        ref_opt.zero_grad()
        _loss(reference, step).backward()
        reference.weight.grad.mul_(mask)
        ref_opt.step()
        with torch.no_grad():
            reference.weight.mul_(mask)
            for value in ref_opt.state[reference.weight].values():
                if isinstance(value, torch.Tensor) and value.shape == mask.shape:
                    value.mul_(mask)
    assert torch.equal(model.weight.detach(), reference.weight.detach())
