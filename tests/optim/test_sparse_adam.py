"""SparseAdam beyond the generic database tests: training nn.Embedding(sparse=True), a masked
Adam reference, uncoalesced and empty gradients, state layout and torch's errors."""

from __future__ import annotations

import math

import pytest
import torch

from optimkit.optim import SparseAdam
from tests._harness import EXACT, assert_params_close, assert_states_close


def _embedding_pair(dtype: torch.dtype = torch.float64) -> tuple[torch.nn.Embedding, torch.nn.Embedding]:
    torch.manual_seed(0)
    ours = torch.nn.Embedding(30, 4, sparse=True).to(dtype)
    theirs = torch.nn.Embedding(30, 4, sparse=True).to(dtype)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "options",
    [{}, {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-6}, {"lr": 0.02, "maximize": True},
     {"lr": torch.tensor(0.03)}],
)
def test_embedding_training_matches_torch(options: dict, dtype: torch.dtype) -> None:
    ours, theirs = _embedding_pair(dtype)
    opt_ours = SparseAdam(ours.parameters(), **options)
    opt_theirs = torch.optim.SparseAdam(theirs.parameters(), **options)
    generator = torch.Generator().manual_seed(1)
    untouched = set(range(30))
    for _ in range(12):
        # Batches repeat indices, so the gradients carry duplicates until coalesced.
        indices = torch.randint(0, 25, (6, 3), generator=generator)
        untouched -= set(indices.flatten().tolist())
        targets = torch.randn(6, 3, 4, generator=generator).to(dtype)
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            loss = (model(indices) - targets).pow(2).mean()
            loss.backward()
            assert model.weight.grad is not None and model.weight.grad.is_sparse
            opt.step()
    assert_params_close([ours.weight], [theirs.weight])  # TOLERANCES for dtype
    assert_states_close(opt_ours, opt_theirs)
    # Rows never looked up keep their initial values and zero moments.
    initial = _embedding_pair(dtype)[0].weight
    rows = sorted(untouched)
    assert rows, "every row was used; the test would not check untouched rows"
    assert torch.equal(ours.weight[rows], initial[rows])
    assert not opt_ours.state[ours.weight]["exp_avg"][rows].any()


def _masked_adam_reference(weight: torch.Tensor, grads: list[torch.Tensor], *, lr: float, beta1: float,
                           beta2: float, eps: float) -> torch.Tensor:
    """Adam applied only to the rows each sparse gradient stores, written densely per row."""
    theta = weight.clone()
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    for t, grad in enumerate(grads, start=1):
        grad = grad.coalesce()
        for row, g in zip(grad.indices()[0].tolist(), grad.values()):
            m[row] = m[row] + (1 - beta1) * (g - m[row])
            v[row] = v[row] + (1 - beta2) * (g * g - v[row])
            scale = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
            theta[row] = theta[row] - scale * m[row] / (v[row].sqrt() + eps)
    return theta


def test_matches_masked_adam_reference() -> None:
    generator = torch.Generator().manual_seed(3)
    start = torch.randn(8, 3, dtype=torch.float64, generator=generator)
    grads = []
    for _ in range(15):
        rows = torch.randint(0, 8, (5,), generator=generator)  # duplicates included
        values = torch.randn(5, 3, dtype=torch.float64, generator=generator)
        grads.append(torch.sparse_coo_tensor(rows.unsqueeze(0), values, (8, 3)))
    w = start.clone().requires_grad_()
    opt = SparseAdam([w], lr=0.1, betas=(0.7, 0.9), eps=1e-7)
    for grad in grads:
        w.grad = grad
        opt.step()
    expected = _masked_adam_reference(start, grads, lr=0.1, beta1=0.7, beta2=0.9, eps=1e-7)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-10, atol=1e-12)


def test_uncoalesced_and_empty_gradients_match_torch() -> None:
    weights = [torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) for _ in range(2)]
    ours = weights[0].clone().requires_grad_()
    theirs = weights[1].clone().requires_grad_()
    opt_ours, opt_theirs = SparseAdam([ours], lr=0.1), torch.optim.SparseAdam([theirs], lr=0.1)
    duplicated = torch.sparse_coo_tensor(torch.tensor([[4, 1, 4]]), torch.ones(3, 2, dtype=torch.float64), (6, 2))
    empty = torch.sparse_coo_tensor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(0, 2, dtype=torch.float64), (6, 2))
    for grad in (duplicated, empty, duplicated):
        for p, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            p.grad = grad.clone()
            opt.step()
    assert_params_close([ours], [theirs], EXACT)
    # The empty gradient still counted as a step.
    assert opt_ours.state[ours]["step"] == opt_theirs.state[theirs]["step"] == 3
    assert_states_close(opt_ours, opt_theirs)


def test_state_dict_cross_loads_with_torch() -> None:
    ours, theirs = _embedding_pair()
    opt_ours = SparseAdam(ours.parameters(), lr=0.05)
    ours(torch.tensor([1, 2, 2])).sum().backward()
    opt_ours.step()
    opt_theirs = torch.optim.SparseAdam(theirs.parameters(), lr=0.05)
    opt_theirs.load_state_dict(opt_ours.state_dict())
    state = opt_theirs.state[theirs.weight]
    assert state["step"] == 1 and isinstance(state["step"], int)
    opt_back = SparseAdam(ours.parameters(), lr=0.05)
    opt_back.load_state_dict(opt_theirs.state_dict())
    assert_states_close(opt_back, opt_theirs)


def test_step_is_an_int_and_state_names() -> None:
    embedding = torch.nn.Embedding(5, 2, sparse=True)
    opt = SparseAdam(embedding.parameters())
    assert opt.state_names_to_sparsify() == ["exp_avg", "exp_avg_sq"]
    opt.preinitialize()
    state = opt.state[embedding.weight]
    assert list(state) == ["step", "exp_avg", "exp_avg_sq"]
    assert state["step"] == 0 and type(state["step"]) is int
    embedding(torch.tensor([0])).sum().backward()
    opt.step()
    assert state["step"] == 1 and type(state["step"]) is int


@pytest.mark.parametrize("cls", [SparseAdam, torch.optim.SparseAdam])
def test_dense_gradient_is_rejected(cls: type) -> None:
    w = torch.zeros(3, requires_grad=True)
    opt = cls([w])
    w.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="^SparseAdam does not support dense gradients, please consider Adam instead$"):
        opt.step()


@pytest.mark.parametrize("cls", [SparseAdam, torch.optim.SparseAdam])
def test_sparse_and_complex_params_are_rejected(cls: type) -> None:
    dense = torch.zeros(3, requires_grad=True)
    sparse = torch.zeros(4, 2).to_sparse().requires_grad_()
    with pytest.raises(ValueError, match=r"^Sparse params at indices \[\[1, 0\]\]: SparseAdam requires dense parameter tensors$"):
        cls([{"params": [dense]}, {"params": [sparse]}])
    complex_param = torch.zeros(2, dtype=torch.complex64, requires_grad=True)
    with pytest.raises(ValueError, match=r"^Complex params at indices \[\[0, 1\]\]: SparseAdam does not support complex parameters$"):
        cls([dense, complex_param])
