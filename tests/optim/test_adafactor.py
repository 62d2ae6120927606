"""Adafactor beyond the generic database tests: state shapes, the factored estimate against a
plain reference, the per-group eps1, foreach only on request, rejected inputs."""

from __future__ import annotations

import pytest
import torch

import optimkit.optim.optimizer as optimizer_module
from optimkit.optim import Adafactor, Adam
from tests._harness import (
    assert_params_close,
    assert_states_close,
    drive_in_lockstep,
    random_params,
    seeded_grads,
    twin_params,
)

SHAPES = [(), (4,), (5, 3), (2, 3, 4)]


def _params() -> list[torch.Tensor]:
    return random_params(SHAPES)


def test_state_keys_and_shapes_equal_torchs() -> None:
    ours_params, theirs_params = twin_params(SHAPES)
    ours, theirs = Adafactor(ours_params), torch.optim.Adafactor(theirs_params)
    drive_in_lockstep((ours, theirs), (ours_params, theirs_params), 1, seeded_grads(1000))
    for a, b in zip(ours_params, theirs_params):
        assert list(ours.state[a]) == list(theirs.state[b])
        for key, value in theirs.state[b].items():
            assert ours.state[a][key].shape == value.shape, key
    assert sorted(ours.state[ours_params[2]]) == ["col_var", "row_var", "step"]
    assert ours.state[ours_params[3]]["row_var"].shape == (2, 3, 1)
    assert ours.state[ours_params[3]]["col_var"].shape == (2, 1, 4)


def test_preinitialize_creates_torchs_shapes() -> None:
    lazy_params, eager_params = twin_params(SHAPES)
    lazy, eager = Adafactor(lazy_params), Adafactor(eager_params)
    eager.preinitialize()
    for p in lazy_params:
        p.grad = torch.ones_like(p)
    lazy.step()
    for a, b in zip(lazy_params, eager_params):
        assert {k: v.shape for k, v in lazy.state[a].items()} == {k: v.shape for k, v in eager.state[b].items()}


def test_first_step_factors_are_the_row_and_column_mean_squares() -> None:
    """A plain reference: at t = 1, beta2 = 1 - 1^tau = 0, so the factors are exactly the means of
    g^2 over the last and second-to-last dimension, and the estimate is R C / mean(R)."""
    w = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    opt = Adafactor([w], lr=0.0)
    grad = torch.randn(5, 3, dtype=torch.float64)
    w.grad = grad
    opt.step()
    rows = [sum(grad[i, j].item() ** 2 for j in range(3)) / 3 for i in range(5)]
    cols = [sum(grad[i, j].item() ** 2 for i in range(5)) / 5 for j in range(3)]
    state = opt.state[w]
    torch.testing.assert_close(state["row_var"], torch.tensor(rows, dtype=torch.float64).view(5, 1))
    torch.testing.assert_close(state["col_var"], torch.tensor(cols, dtype=torch.float64).view(1, 3))


def test_one_step_equals_a_plain_reference() -> None:
    """The whole first update of a matrix, written element by element from the formulas."""
    torch.manual_seed(3)
    w0 = torch.randn(4, 3, dtype=torch.float64)
    grad = torch.randn(4, 3, dtype=torch.float64)
    lr, wd, eps1, eps2, d = 0.05, 0.1, 1e-30, 1e-3, 1.0
    w = w0.clone().requires_grad_()
    w.grad = grad
    Adafactor([w], lr=lr, weight_decay=wd, eps=(eps1, eps2), d=d).step()

    n, m = 4, 3
    rows = [sum(grad[i, j].item() ** 2 for j in range(m)) / m for i in range(n)]
    cols = [sum(grad[i, j].item() ** 2 for i in range(n)) / n for j in range(m)]
    row_mean = sum(rows) / n
    update = [[grad[i, j].item() / (rows[i] * cols[j] / max(row_mean, eps1)) ** 0.5 for j in range(m)] for i in range(n)]
    rms_update = (sum(u * u for r in update for u in r) / (n * m)) ** 0.5
    rms_w = (sum(x * x for x in w0.flatten().tolist()) / (n * m)) ** 0.5
    alpha = max(eps2, rms_w) * min(lr, 1.0)
    expected = [[w0[i, j].item() * (1 - lr * wd) - alpha / max(1.0, rms_update / d) * update[i][j] for j in range(m)]
                for i in range(n)]
    torch.testing.assert_close(w.detach(), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("foreach", [False, True])
def test_mixed_dtypes_use_the_first_parameters_eps1_like_torch(foreach: bool) -> None:
    """torch picks the default eps1 (machine epsilon) once per group, from the first parameter."""
    dtypes = (torch.float64, torch.float32, torch.float64, torch.float32)
    ours_params, theirs_params = twin_params(SHAPES, dtypes)
    ours, theirs = Adafactor(ours_params, foreach=foreach), torch.optim.Adafactor(theirs_params, foreach=foreach)

    def tiny_grads(step: int, params: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """Tiny gradients make the eps1 floor matter."""
        return [torch.full(p.shape, 1e-9 * (step + 1), dtype=p.dtype) for p in params]

    drive_in_lockstep((ours, theirs), (ours_params, theirs_params), 5, tiny_grads)
    for a, b in zip(ours_params, theirs_params):
        torch.testing.assert_close(a, b)  # torch's default tolerance for each dtype
    assert_states_close(ours, theirs)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_equals_torch(foreach: bool) -> None:
    ours_params, theirs_params = twin_params(SHAPES)
    ours = Adafactor(ours_params, lr=torch.tensor(0.02), weight_decay=0.1, foreach=foreach)
    theirs = torch.optim.Adafactor(theirs_params, lr=torch.tensor(0.02), weight_decay=0.1, foreach=foreach)
    drive_in_lockstep((ours, theirs), (ours_params, theirs_params), 6, seeded_grads(1000))
    assert_params_close(ours_params, theirs_params)


def test_foreach_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where torch would default to foreach (CUDA), Adafactor still loops unless foreach=True."""
    monkeypatch.setattr(optimizer_module, "default_foreach", lambda params, differentiable: True)
    params = _params()
    group_of = lambda opt: opt.param_groups[0]  # noqa: E731
    assert Adam(params)._use_foreach(group_of(Adam(params)), params)  # the patch bites
    assert not Adafactor(params)._use_foreach(group_of(Adafactor(params)), params)
    assert Adafactor(params, foreach=True)._use_foreach(group_of(Adafactor(params, foreach=True)), params)


def test_complex_parameters_are_rejected_like_torch() -> None:
    for cls in (Adafactor, torch.optim.Adafactor):
        z = torch.randn(3, 2, dtype=torch.complex64, requires_grad=True)
        z.grad = torch.ones_like(z)
        with pytest.raises(RuntimeError, match="Adafactor does not support complex parameters"):
            cls([z]).step()


def test_sparse_gradients_are_rejected_like_torch() -> None:
    for cls in (Adafactor, torch.optim.Adafactor):
        w = torch.randn(4, 2, requires_grad=True)
        w.grad = torch.eye(4, 2).to_sparse()
        with pytest.raises(RuntimeError, match="Adafactor does not support sparse gradients"):
            cls([w]).step()


def test_tensor_lr_must_have_one_element() -> None:
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        Adafactor(_params(), lr=torch.tensor([0.1, 0.2]))


def test_state_names_to_sparsify_are_the_parameter_shaped_states() -> None:
    matrices = [torch.zeros(3, 2, requires_grad=True), torch.zeros(2, 2, 2, requires_grad=True)]
    vector = torch.zeros(3, requires_grad=True)
    assert Adafactor(matrices).state_names_to_sparsify() == []
    assert Adafactor([*matrices, vector]).state_names_to_sparsify() == ["variance"]
    # The answer holds for the state actually created: "variance" is shaped like its parameter.
    opt = Adafactor([*matrices, vector])
    opt.preinitialize()
    assert opt.state[vector]["variance"].shape == vector.shape
    assert all(opt.state[m]["row_var"].shape != m.shape for m in matrices)
