"""Flat parameter buffers (``optimkit.flatten_parameters``): the same training, to the bit.

Every optimizer of the database trains a small model through real backward passes, once with
its parameters flattened into buffers and once without; the parameters must be bitwise equal
after 50 steps. The element-wise optimizers step whole buffers as one tensor (checked: their state
lives in one flat tensor per key); the others (Lamb, Adafactor, Muon, LBFGS) keep stepping each
parameter, as views. Then everything a user can do to break the views.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import optimkit
import optimkit.optim as ok
from tests._db import DB, DBEntry, cases

STEPS = 50
# SparseAdam takes only sparse gradients, which a dense gradient buffer cannot hold
# (flatten_parameters leaves nn.Embedding(sparse=True) alone; tests below).
FLAT_CASES = cases(only=lambda e: e.name != "sparseadam")


def make_model(entry: DBEntry, seed: int = 0, *, width: int = 64) -> nn.Module:
    """An MLP 6 -> width -> width -> 3. At width 64 every tensor but the last bias is a multiple of
    64 elements, so a flattened model steps as one tensor; at other widths it splits into runs."""
    generator = torch.Generator().manual_seed(seed)
    bias = entry.name != "muon"  # Muon takes matrices only
    model = nn.Sequential(nn.Linear(6, width, bias=bias), nn.Tanh(), nn.Linear(width, width, bias=bias), nn.Tanh(),
                          nn.Linear(width, 3, bias=bias))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
    return model


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1000 + step)
    return torch.randn(8, 6, generator=generator), torch.randn(8, 3, generator=generator)


def loss_of(model: nn.Module, step: int) -> torch.Tensor:
    x, y = batch(step)
    return (model(x) - y).pow(2).mean()


def build(entry: DBEntry, model: nn.Module, config: dict[str, Any], executor: str) -> torch.optim.Optimizer:
    from tests._harness import _executor_kwargs

    params = list(model.parameters())
    kwargs = {**config, **_executor_kwargs(entry.cls, executor)}
    if entry.inputs.second_group is None:
        return entry.cls(params, **kwargs)
    # Two groups, each a run of consecutive parameters of the buffer.
    split = len(params) // 2
    return entry.cls([{"params": params[:split]}, {"params": params[split:], **entry.inputs.second_group}], **kwargs)


def train(entry: DBEntry, model: nn.Module, optimizer: torch.optim.Optimizer, steps: range,
          before_backward: Callable[[nn.Module, int], None] | None = None) -> None:
    for step in steps:
        if entry.inputs.needs_closure:
            def closure(step: int = step) -> torch.Tensor:
                optimizer.zero_grad()
                loss = loss_of(model, step)
                loss.backward()
                return loss
            optimizer.step(closure)
            continue
        optimizer.zero_grad()
        if before_backward is not None:
            before_backward(model, step)
        loss_of(model, step).backward()
        optimizer.step()


def assert_bitwise_equal(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), f"{name}: max difference {(p - q).abs().max().item():.3g}"


@pytest.mark.parametrize("entry,config,executor", FLAT_CASES)
def test_flattened_model_trains_to_identical_parameters(entry: DBEntry, config: dict[str, Any], executor: str) -> None:
    plain, flat = make_model(entry), make_model(entry)
    (buffer,) = optimkit.flatten_parameters(flat)
    plain_opt, flat_opt = build(entry, plain, config, executor), build(entry, flat, config, executor)
    train(entry, plain, plain_opt, range(STEPS))
    train(entry, flat, flat_opt, range(STEPS))
    assert_bitwise_equal(flat, plain)
    assert not torch.equal(flat[0].weight, make_model(entry)[0].weight)  # it trained
    # The parameters still live in the buffer, and an element-wise optimizer's state in flat buffers.
    assert all(p.data_ptr() == buffer.view(buffer.data, i).data_ptr() for i, p in enumerate(flat.parameters()))
    if entry.cls._elementwise:
        for group in flat_opt.param_groups:
            runs = _runs(buffer, group["params"])
            for key, value in flat_opt.state[group["params"][0]].items():
                if isinstance(value, torch.Tensor) and value.dim() > 0:
                    for run in runs:
                        storages = {flat_opt.state[p][key].untyped_storage().data_ptr() for p in run}
                        assert len(storages) == 1, key


def _runs(buffer: Any, params: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """The parameters that step as one tensor: consecutive, each but the last a multiple of 64."""
    runs: list[list[torch.Tensor]] = [[]]
    for p in params:
        runs[-1].append(p)
        if p.numel() % 64:
            runs.append([])
    return [run for run in runs if len(run) > 1]


def _elementwise(names: tuple[str, ...] = ("adam", "sgd", "rprop", "asgd")) -> list[Any]:
    return [pytest.param(DB[name], id=name) for name in names]


def _config(entry: DBEntry) -> dict[str, Any]:
    return {"lr": 0.01, "momentum": 0.9} if entry.name == "sgd" else {"lr": 0.01}


@pytest.mark.parametrize("entry", _elementwise())
@pytest.mark.parametrize("breakage", ["module_zero_grad", "assigned_grad", "replaced_data", "no_grad_for_one"])
def test_broken_views_give_the_same_result(entry: DBEntry, breakage: str) -> None:
    plain, flat = make_model(entry), make_model(entry)
    optimkit.flatten_parameters(flat)
    plain_opt, flat_opt = entry.cls(plain.parameters(), **_config(entry)), entry.cls(flat.parameters(), **_config(entry))

    def break_views(model: nn.Module, step: int) -> None:
        if breakage == "module_zero_grad":
            model.zero_grad(set_to_none=True)  # the next backward makes new gradient tensors
        elif breakage == "replaced_data" and step == 10:
            with torch.no_grad():
                model[2].weight.data = model[2].weight.data.clone()  # no longer in the buffer

    def unused_layer(model: nn.Module, step: int) -> None:
        if step % 4 == 0:
            model[4].bias.grad = None  # this parameter gets no gradient on this step

    hook = {"module_zero_grad": break_views, "replaced_data": break_views, "no_grad_for_one": None}.get(breakage)
    if breakage == "assigned_grad":
        for model, opt in ((plain, plain_opt), (flat, flat_opt)):
            for step in range(STEPS):
                opt.zero_grad()
                grads = torch.autograd.grad(loss_of(model, step), list(model.parameters()))
                for p, g in zip(model.parameters(), grads):
                    p.grad = g  # a new tensor, not the view
                opt.step()
    elif breakage == "no_grad_for_one":
        for model, opt in ((plain, plain_opt), (flat, flat_opt)):
            for step in range(STEPS):
                opt.zero_grad()
                loss_of(model, step).backward()
                unused_layer(model, step)
                opt.step()
    else:
        train(entry, plain, plain_opt, range(STEPS), hook)
        train(entry, flat, flat_opt, range(STEPS), hook)
    assert_bitwise_equal(flat, plain)


def test_zero_grad_keeps_the_views_and_zeroes_the_buffer() -> None:
    model = make_model(DB["adam"])
    (buffer,) = optimkit.flatten_parameters(model)
    opt = ok.Adam(model.parameters())
    loss_of(model, 0).backward()
    assert buffer.grad.abs().sum() > 0
    opt.zero_grad()  # set_to_none=True, torch's default
    assert torch.count_nonzero(buffer.grad) == 0
    assert all(p.grad is not None and p.grad.data_ptr() == v.data_ptr()
               for p, v in zip(model.parameters(), buffer.views(buffer.grad)))
    loss_of(model, 1).backward()
    expected = torch.autograd.grad(loss_of(model, 1), list(model.parameters()))
    torch.testing.assert_close(buffer.grad, torch.cat([g.reshape(-1) for g in expected]), rtol=0, atol=0)


def test_state_dict_is_per_parameter_and_loads_into_torch() -> None:
    entry = DB["adam"]
    flat, plain = make_model(entry), make_model(entry)
    optimkit.flatten_parameters(flat)
    ours = ok.Adam(flat.parameters(), lr=0.01)
    train(entry, flat, ours, range(5))
    saved = copy.deepcopy(ours.state_dict())
    assert sorted(saved["state"]) == list(range(len(list(flat.parameters()))))
    plain.load_state_dict(flat.state_dict())
    theirs = torch.optim.Adam(plain.parameters(), lr=0.01)
    theirs.load_state_dict(saved)
    # Both continue identically (torch's for-loop and our default kernel round alike to 1e-6).
    train(entry, flat, ours, range(5, 15))
    train(entry, plain, theirs, range(5, 15))
    for p, q in zip(flat.parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_loading_a_checkpoint_reattaches_the_state() -> None:
    # Resume: a fresh flattened model and optimizer load a checkpoint; the loaded (separate) state
    # tensors are copied into flat buffers at the next step, and training continues bit for bit.
    entry = DB["adam"]
    reference, first = make_model(entry), make_model(entry)
    optimkit.flatten_parameters(first)
    ref_opt, first_opt = ok.Adam(reference.parameters(), lr=0.01), ok.Adam(first.parameters(), lr=0.01)
    train(entry, reference, ref_opt, range(20))
    train(entry, first, first_opt, range(10))
    model_state, opt_state = copy.deepcopy(first.state_dict()), copy.deepcopy(first_opt.state_dict())
    resumed = make_model(entry, seed=5)
    optimkit.flatten_parameters(resumed)
    resumed.load_state_dict(model_state)
    resumed_opt = ok.Adam(resumed.parameters(), lr=0.01)
    resumed_opt.load_state_dict(opt_state)
    train(entry, resumed, resumed_opt, range(10, 20))
    assert_bitwise_equal(resumed, reference)
    storages = {resumed_opt.state[p]["exp_avg"].untyped_storage().data_ptr() for p in resumed.parameters()}
    assert len(storages) == 1


def test_what_is_left_unflattened() -> None:
    frozen = nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    embedding = nn.Embedding(10, 3, sparse=True)
    conv = nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    model = nn.ModuleDict({"frozen": frozen, "embedding": embedding, "conv": conv,
                           "f64": nn.Linear(2, 2).to(torch.float64)})
    buffers = optimkit.flatten_parameters(model)
    owned = {id(p) for b in buffers for p in b.params}
    assert id(frozen.weight) not in owned and id(embedding.weight) not in owned and id(conv.weight) not in owned
    assert id(frozen.bias) in owned and id(conv.bias) in owned
    assert sorted(str(b.data.dtype) for b in buffers) == ["torch.float32", "torch.float64"]
    assert frozen.weight.grad is None and embedding.weight.grad is None
    assert optimkit.flatten_parameters(model) == []  # already flattened: left as they are
    with pytest.raises(TypeError, match="flatten_parameters expects a module or tensors"):
        optimkit.flatten_parameters([1.0])  # type: ignore[list-item]


@pytest.mark.parametrize("name,executor", [("adam", "default"), ("sgd", "fused"), ("adagrad", "default"),
                                           ("rmsprop", "loop"), ("nadam", "foreach")])
@pytest.mark.parametrize("width", [20, 33])
def test_odd_sizes_split_into_runs_and_stay_identical(name: str, executor: str, width: int) -> None:
    # Sizes that are not whole 64-element blocks end a run: the kernels' vector blocks then start
    # where each parameter starts, as they do tensor by tensor (else the last bits differ).
    entry = DB[name]
    config = {"lr": 0.01, "momentum": 0.9} if name == "sgd" else {"lr": 0.01}
    plain, flat = make_model(entry, width=width), make_model(entry, width=width)
    optimkit.flatten_parameters(flat)
    plain_opt, flat_opt = build(entry, plain, config, executor), build(entry, flat, config, executor)
    train(entry, plain, plain_opt, range(STEPS))
    train(entry, flat, flat_opt, range(STEPS))
    assert_bitwise_equal(flat, plain)


@pytest.mark.parametrize("name", ["Adam", "NAdam", "SGD"])
def test_a_group_in_another_order_than_the_buffer_keeps_each_state_its_own(name: str) -> None:
    # The group lists the buffer's parameters as 0, 2, 1, 3: first and last alone span 0..3 as
    # a run in order would, but each state tensor must stay with its own parameter. Equal sizes,
    # so that a mix-up would pass every shape check.
    def params() -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        return [nn.Parameter(torch.randn(128, generator=generator)) for _ in range(4)]

    plain, flat = params(), params()
    optimkit.flatten_parameters(flat)
    order = [0, 2, 1, 3]
    kwargs: dict[str, Any] = {"lr": 0.1, "foreach": False} | ({"momentum": 0.9} if name == "SGD" else {})
    plain_opt = getattr(ok, name)([plain[i] for i in order], **kwargs)
    flat_opt = getattr(ok, name)([flat[i] for i in order], **kwargs)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        for a, b in zip(plain, flat):
            grad = torch.randn(a.shape, generator=generator)
            a.grad = grad.clone()
            b.grad.copy_(grad)  # type: ignore[union-attr]
        plain_opt.step()
        flat_opt.step()
    for a, b in zip(plain, flat):
        assert torch.equal(a, b)
        for key, value in plain_opt.state[a].items():
            assert torch.equal(flat_opt.state[b][key], value), key


# --------------------------------------------------------------- steady steps (SteadyStep)
def _steady_groups(opt: torch.optim.Optimizer) -> int:
    return sum(id(group) in opt._flat_states.steady for group in opt.param_groups)  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [64, 32])
@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop", "nadam"])
def test_a_steady_flattened_group_skips_the_per_parameter_plan(name: str, width: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # From the second step on, a flattened group reuses its last rule call after whole-list
    # checks: neither the parameter list nor the plan is rebuilt. At width 32 the buffer splits
    # into two runs and two loose parameters (96 and 3 elements), which the steady step carries.
    entry = DB[name]
    model = make_model(entry, width=width)
    optimkit.flatten_parameters(model)
    opt = build(entry, model, _config(entry), "default")
    train(entry, model, opt, range(2))
    assert _steady_groups(opt) == len(opt.param_groups)
    plans: list[int] = []
    monkeypatch.setattr(type(opt), "_params_with_grad", lambda self, group: plans.append(1) or [])
    train(entry, model, opt, range(2, 5))
    assert plans == []


def _reset_moments(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:  # a user resets one parameter's moments: new tensors in its state
        state = opt.state[model[2].weight]
        for key, value in list(state.items()):
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                state[key] = torch.zeros_like(value)


def _reset_counter(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:  # ... or one parameter's step count, in place
        opt.state[model[2].weight]["step"].zero_()


def _clear_state(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:
        opt.state.clear()


def _switch_momentum_on(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:  # an option turned on mid-training: RMSprop then keeps a momentum buffer
        opt.param_groups[0]["momentum"] = 0.5


def _tensor_lr(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:
        opt.param_groups[0]["lr"] = torch.tensor(0.003)


def _another_flattening(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:
        optimkit.flatten_parameters(nn.Linear(3, 3))


def _group_loses_a_parameter(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:
        opt.param_groups[0]["params"].pop()


@pytest.mark.parametrize("name,change", [
    ("adam", _reset_moments), ("nadam", _reset_moments), ("sgd", _reset_moments),
    ("adam", _reset_counter), ("radam", _reset_counter),
    ("adam", _clear_state), ("sgd", _clear_state),
    ("rmsprop", _switch_momentum_on),
    ("adam", _tensor_lr), ("asgd", _tensor_lr),
    ("adam", _another_flattening),
    ("adam", _group_loses_a_parameter), ("sgd", _group_loses_a_parameter),
], ids=lambda value: getattr(value, "__name__", value))
def test_steady_steps_notice_what_changed_between_steps(name: str, change: Callable[..., None]) -> None:
    # The same change to an unflattened twin gives the reference; a steady step that missed it
    # would keep stepping the old flat tensors (or counters, or parameters) and drift away.
    entry = DB[name]
    models = make_model(entry), make_model(entry)
    optimkit.flatten_parameters(models[1])
    opts = [entry.cls(model.parameters(), **_config(entry)) for model in models]
    for step in range(30):
        for model, opt in zip(models, opts):
            if step == 10 and model is models[1]:
                assert _steady_groups(opt) == 1  # the change meets a steady step
            change(model, opt, step)
            opt.zero_grad()
            loss_of(model, step).backward()
            opt.step()
    assert_bitwise_equal(models[1], models[0])
    assert _steady_groups(opts[1]) == 1  # and the flat step is steady again afterwards


def _loose_grad_doubled(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:  # after backward: a loose parameter's gradient replaced by another tensor
        model[4].weight.grad = model[4].weight.grad * 2


def _loose_moments_reset(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:
        opt.state[model[4].weight]["exp_avg"] = torch.ones_like(model[4].weight)


def _loose_grad_gone(model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    if step == 10:  # a loose parameter sits this step out
        model[4].bias.grad = None


@pytest.mark.parametrize("change", [None, _loose_grad_doubled, _loose_moments_reset, _loose_grad_gone],
                         ids=lambda value: getattr(value, "__name__", "unchanged"))
def test_steady_steps_carry_loose_parameters(change: Callable[..., None] | None) -> None:
    # Width 32: runs [W0, b0] and [W1, b1], loose W2 (96 elements) and b2 (3). Changes to a loose
    # parameter between backward and step must reach the step as they reach the unflattened twin.
    entry = DB["adam"]
    models = make_model(entry, width=32), make_model(entry, width=32)
    optimkit.flatten_parameters(models[1])
    opts = [ok.Adam(model.parameters(), lr=0.01) for model in models]
    for step in range(20):
        for model, opt in zip(models, opts):
            if step == 10 and model is models[1]:
                assert _steady_groups(opt) == 1
            opt.zero_grad()
            loss_of(model, step).backward()
            if change is not None:
                change(model, opt, step)
            opt.step()
    assert_bitwise_equal(models[1], models[0])
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        for key, value in opts[0].state[p].items():
            assert torch.equal(opts[1].state[q][key], value), key
    assert _steady_groups(opts[1]) == 1


def test_a_parameter_outside_any_buffer_keeps_the_group_off_steady_steps() -> None:
    # Its gradient is new after each zero_grad(): a steady step would fail its checks every time.
    model = make_model(DB["adam"])
    optimkit.flatten_parameters(model[0])
    opt = ok.Adam(model.parameters(), lr=0.01)
    train(DB["adam"], model, opt, range(3))
    assert _steady_groups(opt) == 0


def test_loading_a_state_dict_into_a_steady_optimizer() -> None:
    entry = DB["adam"]
    models = make_model(entry), make_model(entry)
    optimkit.flatten_parameters(models[1])
    opts = [ok.Adam(model.parameters(), lr=0.01) for model in models]
    saved = []
    for model, opt in zip(models, opts):
        train(entry, model, opt, range(5))
        saved.append(copy.deepcopy(opt.state_dict()))
        train(entry, model, opt, range(5, 12))
        opt.load_state_dict(saved[-1])  # back to the moments of step 5 (the parameters move on)
        train(entry, model, opt, range(12, 20))
    assert_bitwise_equal(models[1], models[0])
