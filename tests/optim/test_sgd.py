from __future__ import annotations

import pytest
import torch

from optimkit.optim import SGD
from tests._harness import (
    EXACT,
    assert_params_close,
    drive_in_lockstep,
    random_params,
    seeded_grads,
    set_grads,
    twin_params,
)


def _params() -> list[torch.Tensor]:
    return random_params([(4, 3)] * 3)


#: The third parameter's first gradient comes on the fourth step.
_LATE_GRADS = seeded_grads(1000, skip=lambda step, i: i == 2 and step < 3)


@pytest.mark.parametrize("dampening", [0.0, 0.4])
def test_fused_handles_a_parameter_whose_first_gradient_comes_late(dampening: float) -> None:
    """torch's fused SGD fails here (it hands its kernel a None buffer); ours splits first and
    running buffers and matches the for-loop."""
    loop_params, fused_params = _params(), _params()
    loop = SGD(loop_params, lr=0.1, momentum=0.9, dampening=dampening, foreach=False)
    fused = SGD(fused_params, lr=0.1, momentum=0.9, dampening=dampening, fused=True)
    drive_in_lockstep((loop, fused), (loop_params, fused_params), 8, _LATE_GRADS)
    assert_params_close(loop_params, fused_params, EXACT)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_matches_torch(foreach: bool) -> None:
    ours_params, theirs_params = _params(), _params()
    ours = SGD(ours_params, lr=torch.tensor(0.05), momentum=0.9, foreach=foreach)
    theirs = torch.optim.SGD(theirs_params, lr=torch.tensor(0.05), momentum=0.9, foreach=foreach)
    drive_in_lockstep((ours, theirs), (ours_params, theirs_params), 5, _LATE_GRADS)
    assert_params_close(ours_params, theirs_params)
    assert isinstance(ours.param_groups[0]["lr"], torch.Tensor)


def test_tensor_lr_must_have_one_element() -> None:
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        SGD(_params(), lr=torch.tensor([0.1, 0.2]))


def test_no_momentum_keeps_no_state() -> None:
    params = _params()
    opt = SGD(params, lr=0.1)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    assert opt.state_dict()["state"] == {}
    opt.preinitialize()
    assert opt.state_dict()["state"] == {}


def test_preinitialized_buffer_still_takes_the_first_step_rule() -> None:
    """The first step copies the gradient into the buffer (no dampening), also when the buffer
    was allocated ahead of time."""
    (w,) = _params()[:1]
    opt = SGD([w], lr=0.0, momentum=0.9, dampening=0.5)
    opt.preinitialize()
    w.grad = torch.full_like(w, 2.0)
    opt.step()
    assert torch.equal(opt.state[w]["momentum_buffer"], torch.full_like(w, 2.0))
    opt.step()
    assert torch.equal(opt.state[w]["momentum_buffer"], torch.full_like(w, 0.9 * 2.0 + 0.5 * 2.0))


def test_differentiable_step_tracks_tensor_weight_decay() -> None:
    w = torch.randn(3, dtype=torch.float64)
    decay = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    p = w.clone().requires_grad_()
    q = p.clone()
    q.grad = torch.ones(3, dtype=torch.float64)
    SGD([q], lr=0.5, weight_decay=decay, differentiable=True).step()
    q.sum().backward()
    # d/d(decay) of sum(q - lr * (g + decay * q)) = -lr * sum(q)
    torch.testing.assert_close(decay.grad, -0.5 * w.sum())


# ------------------------------------------------------------------------------- sparse gradients
# torch's SGD takes sparse COO gradients (nn.Embedding(sparse=True)) in its for-loop and foreach
# implementations; a momentum buffer started from a sparse gradient is itself sparse.

_SPARSE_CONFIGS = [
    pytest.param({}, id="plain"),
    pytest.param({"maximize": True}, id="maximize"),
    pytest.param({"momentum": 0.9}, id="momentum"),
    pytest.param({"momentum": 0.9, "dampening": 0.3}, id="dampening"),
    pytest.param({"momentum": 0.9, "nesterov": True, "maximize": True}, id="nesterov"),
    pytest.param({"lr": torch.tensor(0.05)}, id="tensor_lr"),
]


def _embedding_pair(seed: int = 0) -> tuple[torch.nn.Embedding, torch.nn.Embedding]:
    torch.manual_seed(seed)
    ours = torch.nn.Embedding(10, 3, sparse=True, dtype=torch.float64)
    theirs = torch.nn.Embedding(10, 3, sparse=True, dtype=torch.float64)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _embedding_step(embedding: torch.nn.Embedding, opt: torch.optim.Optimizer, step: int) -> None:
    # Repeated indices make uncoalesced gradients; the batches move over the table.
    indices = torch.tensor([step % 10, (3 * step + 1) % 10, step % 10, 7])
    opt.zero_grad()
    (embedding(indices) ** 2).sum().backward()
    assert embedding.weight.grad is not None and embedding.weight.grad.is_sparse
    opt.step()


def _assert_same_sgd_state(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer) -> None:
    ours_state, theirs_state = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert ours_state.keys() == theirs_state.keys()
    for index, expected in theirs_state.items():
        assert list(ours_state[index]) == list(expected)
        for key, value in expected.items():
            actual = ours_state[index][key]
            assert actual.layout == value.layout, key
            torch.testing.assert_close(actual.to_dense(), value.to_dense(), **EXACT)


@pytest.mark.parametrize("foreach", [None, False, True], ids=["default", "loop", "foreach"])
@pytest.mark.parametrize("config", _SPARSE_CONFIGS)
def test_sparse_embedding_matches_torch_step_by_step(config: dict[str, object], foreach: bool | None) -> None:
    ours_emb, theirs_emb = _embedding_pair()
    kwargs = {"lr": 0.1, **config, "foreach": foreach}
    ours = SGD(ours_emb.parameters(), **kwargs)  # type: ignore[arg-type]
    theirs = torch.optim.SGD(theirs_emb.parameters(), **kwargs)  # type: ignore[arg-type]
    for step in range(12):
        _embedding_step(ours_emb, ours, step)
        _embedding_step(theirs_emb, theirs, step)
        assert_params_close([ours_emb.weight], [theirs_emb.weight], EXACT)
        _assert_same_sgd_state(ours, theirs)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sparse_embedding_with_a_scheduler_matches_torch(momentum: float) -> None:
    ours_emb, theirs_emb = _embedding_pair(1)
    ours = SGD(ours_emb.parameters(), lr=0.2, momentum=momentum)
    theirs = torch.optim.SGD(theirs_emb.parameters(), lr=0.2, momentum=momentum)
    ours_sched = torch.optim.lr_scheduler.StepLR(ours, step_size=3, gamma=0.5)
    theirs_sched = torch.optim.lr_scheduler.StepLR(theirs, step_size=3, gamma=0.5)
    for step in range(10):
        _embedding_step(ours_emb, ours, step)
        _embedding_step(theirs_emb, theirs, step)
        ours_sched.step()
        theirs_sched.step()
    assert_params_close([ours_emb.weight], [theirs_emb.weight], EXACT)
    assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]


@pytest.mark.parametrize("foreach", [False, True])
def test_sparse_and_dense_gradients_give_the_same_steps(foreach: bool) -> None:
    """Sparse gradients with duplicate indices (uncoalesced) update like their dense sum, with
    parameters of two dtypes and a dense-gradient parameter in the same group."""
    base = [torch.tensor([1.5, -0.5], dtype=torch.float64), torch.tensor([0.5, 2.0]), torch.ones(3)]
    sparse_params = [b.clone().requires_grad_() for b in base]
    dense_params = [b.clone().requires_grad_() for b in base]
    sparse_opt = SGD(sparse_params, lr=0.01, momentum=0.5, foreach=foreach)
    dense_opt = SGD(dense_params, lr=0.01, momentum=0.5, foreach=foreach)
    for step in range(20):
        for ps, dense in ((sparse_params, False), (dense_params, True)):
            for p in ps[:2]:
                with torch.no_grad():
                    g = 2 * p + 1
                    i = step % 2  # one coordinate per step, split over two duplicate entries
                    values = torch.stack([g[i] / 4, g[i] - g[i] / 4])
                    sparse = torch.sparse_coo_tensor(torch.tensor([[i, i]]), values, p.shape)
                p.grad = sparse.to_dense() if dense else sparse
            ps[2].grad = torch.full((3,), 0.1 * step)
        sparse_opt.step()
        dense_opt.step()
        for a, b in zip(sparse_params, dense_params):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("direction", ["torch_to_optimkit", "optimkit_to_torch"])
def test_sparse_momentum_state_dicts_cross_load(direction: str) -> None:
    first_emb, second_emb = _embedding_pair(2)
    straight_emb, _ = _embedding_pair(2)
    first_cls, second_cls = (torch.optim.SGD, SGD) if direction == "torch_to_optimkit" else (SGD, torch.optim.SGD)
    first = first_cls(first_emb.parameters(), lr=0.1, momentum=0.9)
    straight = first_cls(straight_emb.parameters(), lr=0.1, momentum=0.9)
    for step in range(4):
        _embedding_step(first_emb, first, step)
        _embedding_step(straight_emb, straight, step)
    second_emb.load_state_dict(first_emb.state_dict())
    second = second_cls(second_emb.parameters(), lr=0.1, momentum=0.9)
    second.load_state_dict(first.state_dict())
    for step in range(4, 8):
        _embedding_step(second_emb, second, step)
        _embedding_step(straight_emb, straight, step)
    assert_params_close([second_emb.weight], [straight_emb.weight], EXACT)


def _sparse_grad_param() -> torch.Tensor:
    w = torch.zeros(4, 2, requires_grad=True)
    w.grad = torch.sparse_coo_tensor(torch.tensor([[0, 2]]), torch.ones(2, 2), (4, 2))
    return w


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("cls", [SGD, torch.optim.SGD], ids=["optimkit", "torch"])
def test_sparse_gradient_with_weight_decay_raises_like_torch(cls: type, foreach: bool) -> None:
    w = _sparse_grad_param()
    with pytest.raises(RuntimeError, match=r"add\(sparse, dense\) is not supported"):
        cls([w], lr=0.1, weight_decay=0.1, foreach=foreach).step()


@pytest.mark.parametrize("cls", [SGD, torch.optim.SGD], ids=["optimkit", "torch"])
def test_sparse_gradient_with_fused_raises_like_torch(cls: type) -> None:
    w = _sparse_grad_param()
    before = w.detach().clone()
    opt = cls([w], lr=0.1, momentum=0.9, fused=True)
    with pytest.raises(RuntimeError, match="`_fused_sgd` does not support sparse gradients"):
        opt.step()
    assert torch.equal(w.detach(), before)
    assert not any(opt.state_dict()["state"].values())  # no momentum buffer was made


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sparse_gradients_of_complex_parameters_match_torch(momentum: float, foreach: bool) -> None:
    """A complex parameter with a sparse gradient is updated in complex arithmetic (the real view
    of a sparse tensor is a copy, in which a momentum buffer would not be updated), beside a
    complex parameter with a dense gradient."""
    g = torch.Generator().manual_seed(5)  # the parameters, then the gradients
    ours_params, theirs_params = twin_params([(5, 2), (3,)], torch.complex128, seed=g)
    kwargs = {"lr": 0.1, "momentum": momentum, "nesterov": momentum > 0, "foreach": foreach}
    ours = SGD(ours_params, **kwargs)  # type: ignore[arg-type]
    theirs = torch.optim.SGD(theirs_params, **kwargs)  # type: ignore[arg-type]
    for step in range(6):
        values = torch.randn(3, 2, dtype=torch.complex128, generator=g)
        dense = torch.randn(3, dtype=torch.complex128, generator=g)
        rows = torch.tensor([[step % 5, (step + 2) % 5, step % 5]])
        set_grads([torch.sparse_coo_tensor(rows, values, (5, 2)), dense], ours_params, theirs_params)
        ours.step()
        theirs.step()
        assert_params_close(ours_params, theirs_params, EXACT)
    _assert_same_sgd_state(ours, theirs)
