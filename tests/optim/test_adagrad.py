from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from optimkit.optim import Adagrad
from tests._harness import (
    TOLERANCES,
    assert_params_close,
    assert_states_close,
    drive_in_lockstep,
    reload_with_numbers,
    set_grads,
    stream_grads,
    twin_params,
    using_default_dtype,
)


def _state_dicts_equal(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer) -> None:
    a, b = ours.state_dict(), theirs.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert_states_close(ours, theirs)
    for index, state in b["state"].items():
        for key, value in state.items():
            assert torch.equal(a["state"][index][key], value), (index, key)


# ------------------------------------------------------------------ state made by the constructor
@pytest.mark.parametrize("fused", [None, True])
@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64])
def test_state_dict_right_after_construction_equals_torch(fused: bool | None, default_dtype: torch.dtype) -> None:
    with using_default_dtype(default_dtype):
        ours_p, theirs_p = twin_params([(3, 2), (4,)], torch.float32)
        if not fused:
            ours_p.append(torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True))
            theirs_p.append(torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True))
        kwargs: dict[str, Any] = {"lr": 0.1, "initial_accumulator_value": 0.25, "fused": fused}
        ours = Adagrad([{"params": ours_p[:1]}, {"params": ours_p[1:], "lr": 0.2}], **kwargs)
        theirs = torch.optim.Adagrad([{"params": theirs_p[:1]}, {"params": theirs_p[1:], "lr": 0.2}], **kwargs)
        assert len(ours.state) == len(ours_p)
        _state_dicts_equal(ours, theirs)
        for p in ours_p:
            assert list(ours.state[p]) == ["step", "sum"]


def test_preinitialize_adds_nothing_and_sparsify_names_sum() -> None:
    w = torch.zeros(3, 2, requires_grad=True)
    opt = Adagrad([w], initial_accumulator_value=0.5)
    before = {k: v.clone() for k, v in opt.state[w].items()}
    opt.preinitialize()
    assert list(opt.state[w]) == list(before)
    for key, value in before.items():
        assert torch.equal(opt.state[w][key], value)
    assert opt.state_names_to_sparsify() == ["sum"]


def test_group_initial_accumulator_value_is_ignored_like_torch() -> None:
    """torch fills `sum` from the optimizer's default, for constructor-made and lazily-made state
    alike; a group's own value is kept in the group but not used."""
    ours_p, theirs_p = twin_params([(3,), (2,), (4,)])
    ours = Adagrad([{"params": ours_p[:1]}, {"params": ours_p[1:2], "initial_accumulator_value": 2.0}],
                   initial_accumulator_value=0.5)
    theirs = torch.optim.Adagrad([{"params": theirs_p[:1]}, {"params": theirs_p[1:2], "initial_accumulator_value": 2.0}],
                                 initial_accumulator_value=0.5)
    ours.add_param_group({"params": ours_p[2:], "initial_accumulator_value": 3.0})
    theirs.add_param_group({"params": theirs_p[2:], "initial_accumulator_value": 3.0})
    assert ours_p[2] not in ours.state and theirs_p[2] not in theirs.state
    drive_in_lockstep((ours, theirs), (ours_p, theirs_p), 1, lambda step, params: [torch.ones_like(p) for p in params])
    _state_dicts_equal(ours, theirs)
    assert_params_close(ours_p, theirs_p)
    assert torch.equal(ours.state[ours_p[2]]["sum"], torch.full((4,), 1.5, dtype=torch.float64))


# ----------------------------------------------------------------------------- sparse gradients
class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(12, 4, sparse=True)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(tokens)).squeeze(-1)


@pytest.mark.parametrize("kwargs", [
    {"lr": 0.1},
    {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.2, "eps": 1e-3},
    {"lr": 0.05, "maximize": True},
    {"lr": torch.tensor(0.1)},
], ids=["plain", "decay", "maximize", "tensor_lr"])
@pytest.mark.parametrize("foreach", [False, True])
def test_sparse_embedding_training_equals_torch(kwargs: dict[str, Any], foreach: bool) -> None:
    torch.manual_seed(0)
    ours_model = _Model().double()
    theirs_model = copy.deepcopy(ours_model)
    ours = Adagrad(ours_model.parameters(), foreach=foreach, **kwargs)
    theirs = torch.optim.Adagrad(theirs_model.parameters(), foreach=foreach, **kwargs)
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        # Repeated tokens give an uncoalesced gradient with duplicate rows.
        tokens = torch.randint(0, 12, (10,), generator=g)
        target = torch.randn(10, dtype=torch.float64, generator=g)
        for model, opt in ((ours_model, ours), (theirs_model, theirs)):
            opt.zero_grad()
            (model(tokens) - target).pow(2).mean().backward()
            assert model.embedding.weight.grad.is_sparse
            opt.step()
    assert_params_close(list(ours_model.parameters()), list(theirs_model.parameters()))
    assert_states_close(ours, theirs)
    # Rows never looked up keep their initial accumulator.
    untouched = ours.state[ours_model.embedding.weight]["sum"].abs().sum(dim=1) == 0
    assert torch.equal(untouched, theirs.state[theirs_model.embedding.weight]["sum"].abs().sum(dim=1) == 0)


def test_sparse_matches_dense_on_touched_rows() -> None:
    """A sparse gradient updates its rows exactly as the same gradient made dense does, as long as
    untouched rows have nothing accumulated (an independent check of the sparse path)."""
    sparse_w, dense_w = twin_params([(6, 3)])
    sparse_opt = Adagrad(sparse_w, lr=0.2, lr_decay=0.05)
    dense_opt = Adagrad(dense_w, lr=0.2, lr_decay=0.05)
    g = torch.Generator().manual_seed(2)
    rows = torch.tensor([[0, 2, 2, 5]])  # row 2 twice: coalescing must sum them
    for _ in range(4):
        values = torch.randn(4, 3, dtype=torch.float64, generator=g)
        grad = torch.sparse_coo_tensor(rows, values, (6, 3))
        sparse_w[0].grad = grad
        dense_w[0].grad = grad.to_dense()
        sparse_opt.step()
        dense_opt.step()
    assert_params_close(sparse_w, dense_w)
    torch.testing.assert_close(sparse_opt.state[sparse_w[0]]["sum"], dense_opt.state[dense_w[0]]["sum"],
                               **TOLERANCES[torch.float64])


def test_sparse_complex_gradients_equal_torch() -> None:
    """torch's sparse path works on the complex values themselves (accumulating g*g)."""
    ours_w, theirs_w = twin_params([(4, 2)], torch.complex128)
    ours, theirs = Adagrad(ours_w, lr=0.1), torch.optim.Adagrad(theirs_w, lr=0.1)
    g = torch.Generator().manual_seed(3)

    def grads(step: int, params: list[torch.Tensor]) -> list[torch.Tensor | None]:
        values = torch.randn(2, 2, dtype=torch.complex128, generator=g)
        return [torch.sparse_coo_tensor(torch.tensor([[1, 3]]), values, (4, 2))]

    drive_in_lockstep((ours, theirs), (ours_w, theirs_w), 3, grads)
    assert_params_close(ours_w, theirs_w)
    _state_dicts_equal(ours, theirs)


def test_mixed_sparse_and_dense_with_foreach_equals_torch() -> None:
    ours_p, theirs_p = twin_params([(5, 2), (3,), (5, 2)])
    ours = Adagrad(ours_p, lr=0.1, foreach=True)
    theirs = torch.optim.Adagrad(theirs_p, lr=0.1, foreach=True)
    g = torch.Generator().manual_seed(4)

    def grads(step: int, params: list[torch.Tensor]) -> list[torch.Tensor | None]:
        return [
            torch.sparse_coo_tensor(torch.tensor([[0, 3]]), torch.randn(2, 2, dtype=torch.float64, generator=g), (5, 2)),
            torch.randn(3, dtype=torch.float64, generator=g),
            torch.randn(5, 2, dtype=torch.float64, generator=g),
        ]

    drive_in_lockstep((ours, theirs), (ours_p, theirs_p), 5, grads)
    assert_params_close(ours_p, theirs_p)
    assert_states_close(ours, theirs)


def _sparse_grad() -> torch.Tensor:
    return torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.ones(2, 2, dtype=torch.float64), (3, 2))


@pytest.mark.parametrize("kwargs,error,match", [
    ({"weight_decay": 0.1}, RuntimeError, "weight_decay option is not compatible with sparse gradients"),
    ({"fused": True}, RuntimeError, "`fused` does not support sparse grad or complex param"),
])
def test_sparse_gradient_errors_match_torch(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    for cls in (Adagrad, torch.optim.Adagrad):
        w = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
        opt = cls([w], **kwargs)
        w.grad = _sparse_grad()
        with pytest.raises(error, match=match):
            opt.step()


# ------------------------------------------------------------------------------------- fused
def test_fused_checks_only_the_first_parameter_like_torch() -> None:
    """With a complex parameter first, the device/dtype check names it; torch words it the same."""
    for cls in (Adagrad, torch.optim.Adagrad):
        params = [torch.zeros(2, dtype=torch.complex64, requires_grad=True), torch.zeros(2, requires_grad=True)]
        opt = cls(params, fused=True)  # the constructor accepts it: the check waits for step()
        for p in params:
            p.grad = torch.ones_like(p)
        with pytest.raises(RuntimeError, match=r"`fused=True` requires all the params to be floating point Tensors"):
            opt.step()


@pytest.mark.parametrize("lr", [0.1, torch.tensor(0.1)], ids=["float", "tensor"])
def test_fused_honours_found_inf_like_torch(lr: float | torch.Tensor) -> None:
    """GradScaler hands fused optimizers `grad_scale` and `found_inf`; a step with inf gradients
    changes nothing and does not count."""
    ours_p, theirs_p = twin_params([(3, 2), (4,)], torch.float32)
    ours = Adagrad(ours_p, lr=lr, lr_decay=0.1, fused=True)
    theirs = torch.optim.Adagrad(theirs_p, lr=lr, lr_decay=0.1, fused=True)
    grads = stream_grads(5)
    for step in range(4):
        set_grads([grad * 2.0 for grad in grads(step, ours_p)], ours_p, theirs_p)
        for opt in (ours, theirs):
            opt.grad_scale = torch.tensor(2.0)
            opt.found_inf = torch.tensor(1.0 if step == 2 else 0.0)
            opt.step()
    for a, b in zip(ours_p, theirs_p):
        torch.testing.assert_close(a, b)  # torch's default float32 tolerance
    _state_dicts_equal(ours, theirs)
    assert ours.state[ours_p[0]]["step"].item() == 3


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    ours_p, theirs_p = twin_params([(3, 2), (4,)])
    ours = Adagrad(ours_p, lr=torch.tensor([0.1]), lr_decay=0.2, foreach=foreach)
    theirs = torch.optim.Adagrad(theirs_p, lr=torch.tensor([0.1]), lr_decay=0.2, foreach=foreach)
    drive_in_lockstep((ours, theirs), (ours_p, theirs_p), 10, stream_grads(6))
    assert_params_close(ours_p, theirs_p)


def test_matches_an_independent_reference() -> None:
    """Per-element Adagrad written out plainly, with lr decay and weight decay."""
    lr, lr_decay, wd, eps, start = 0.3, 0.1, 0.05, 1e-10, 0.2
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    opt = Adagrad([w], lr=lr, lr_decay=lr_decay, weight_decay=wd, eps=eps, initial_accumulator_value=start)
    ref = [1.0, -2.0, 0.5]
    acc = [start] * 3
    g = torch.Generator().manual_seed(7)
    for t in range(1, 8):
        grad = torch.randn(3, dtype=torch.float64, generator=g)
        w.grad = grad
        opt.step()
        for i in range(3):
            gi = grad[i].item() + wd * ref[i]
            acc[i] += gi * gi
            ref[i] -= lr / (1 + (t - 1) * lr_decay) * gi / (acc[i] ** 0.5 + eps)
    torch.testing.assert_close(w.detach(), torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=1e-14)


def test_share_memory_shares_every_sum() -> None:
    params = [torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)]
    opt = Adagrad(params)
    opt.share_memory()
    assert all(opt.state[p]["sum"].is_shared() for p in params)


def test_old_checkpoint_with_number_step_is_upgraded() -> None:
    w = torch.zeros(2, requires_grad=True)
    opt = Adagrad([w])
    reload_with_numbers(opt, w, step=4)  # a checkpoint written before steps became tensors
    assert torch.is_tensor(opt.state[w]["step"]) and opt.state[w]["step"].item() == 4
    assert opt.state[w]["step"].dtype == torch.float32
