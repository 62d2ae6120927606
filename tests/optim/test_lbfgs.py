"""LBFGS beyond the generic database tests: Rosenbrock against torch, the curvature history and
its two-loop recursion on their own, the line search on its own, the closure and single-group
contract, preinitialize() and sparse gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from optimkit.optim import LBFGS
from optimkit.optim._lbfgs_history import MIN_CURVATURE, CurvatureHistory
from optimkit.optim.lbfgs import cubic_minimizer, strong_wolfe
from tests._harness import EXACT, assert_states_close, clone_params, random_params


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """The chained Rosenbrock function, minimum 0 at (1, ..., 1)."""
    return ((1 - x[:-1]) ** 2).sum() + 100 * ((x[1:] - x[:-1] ** 2) ** 2).sum()


def _closure(x: torch.Tensor, losses: list[float] | None = None) -> Callable[[], torch.Tensor]:
    def closure() -> torch.Tensor:
        x.grad = None
        loss = rosenbrock(x)
        loss.backward()
        if losses is not None:
            losses.append(loss.item())
        return loss

    return closure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("start", [[-1.5, 2.0], [-1.2, 1.0, -0.5, 0.8, 1.3, -0.7]], ids=["2d", "6d"])
def test_rosenbrock_four_steps_equal_torch(line_search_fn: str | None, start: list[float]) -> None:
    ours_x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    theirs_x = ours_x.detach().clone().requires_grad_()
    # lr below 1 keeps the fixed-step variant from diverging on this badly scaled problem.
    kwargs: dict[str, Any] = {"line_search_fn": line_search_fn, "lr": 1 if line_search_fn else 0.1}
    ours, theirs = LBFGS([ours_x], **kwargs), torch.optim.LBFGS([theirs_x], **kwargs)
    ours_losses: list[float] = []
    theirs_losses: list[float] = []
    start_loss = rosenbrock(ours_x.detach()).item()
    for _ in range(4):
        returned = ours.step(_closure(ours_x, ours_losses))
        expected = theirs.step(_closure(theirs_x, theirs_losses))
        torch.testing.assert_close(returned, expected, **EXACT)
        torch.testing.assert_close(ours_x, theirs_x, **EXACT)
    # The same evaluations, in the same order, and the same state (history included).
    assert len(ours_losses) == len(theirs_losses)
    assert ours_losses == pytest.approx(theirs_losses, rel=1e-12, abs=1e-14)
    assert_states_close(ours, theirs, tolerance=EXACT)
    assert rosenbrock(ours_x.detach()).item() < start_loss
    state = ours.state[ours_x]
    assert state["n_iter"] > 4 and len(state["old_dirs"]) > 1  # several iterations per step


def test_strong_wolfe_solves_the_2d_rosenbrock() -> None:
    x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    opt = LBFGS([x], line_search_fn="strong_wolfe")
    for _ in range(4):
        opt.step(_closure(x))
    torch.testing.assert_close(x.detach(), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-4)


def test_step_requires_a_closure() -> None:
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"LBFGS.step\(\) missing 1 required positional argument: 'closure'"):
        LBFGS([x]).step()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"LBFGS.step\(\) missing 1 required positional argument: 'closure'"):
        torch.optim.LBFGS([x]).step()  # type: ignore[call-arg]


def test_single_parameter_group_only() -> None:
    groups = lambda: [{"params": [torch.zeros(2, requires_grad=True)]},  # noqa: E731
                      {"params": [torch.zeros(2, requires_grad=True)]}]
    message = r"LBFGS doesn't support per-parameter options \(parameter groups\)"
    for cls in (LBFGS, torch.optim.LBFGS):
        with pytest.raises(ValueError, match=message):
            cls(groups())


def test_a_group_added_later_fails_at_step_like_torch() -> None:
    for cls in (LBFGS, torch.optim.LBFGS):
        x, y = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
        opt = cls([x])
        opt.add_param_group({"params": [y]})
        with pytest.raises(AssertionError, match="Expected exactly one param_group, but got 2"):
            opt.step(_closure(x))


def test_unknown_line_search_fails_at_step_like_torch() -> None:
    for cls in (LBFGS, torch.optim.LBFGS):
        x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
        opt = cls([x], line_search_fn="backtracking")
        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
            opt.step(_closure(x))


def test_tensor_lr_must_have_one_element() -> None:
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        LBFGS([torch.zeros(2, requires_grad=True)], lr=torch.tensor([0.1, 0.2]))


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_tensor_lr_equals_torch(line_search_fn: str | None) -> None:
    ours_x = torch.tensor([-1.2, 1.0, 0.4], dtype=torch.float64, requires_grad=True)
    theirs_x = ours_x.detach().clone().requires_grad_()
    kwargs = {"lr": torch.tensor(0.2, dtype=torch.float64), "line_search_fn": line_search_fn}
    ours, theirs = LBFGS([ours_x], **kwargs), torch.optim.LBFGS([theirs_x], **kwargs)
    for _ in range(3):
        ours.step(_closure(ours_x))
        theirs.step(_closure(theirs_x))
    torch.testing.assert_close(ours_x, theirs_x, **EXACT)
    assert_states_close(ours, theirs, tolerance=EXACT)


def test_returns_at_once_when_the_gradient_is_already_small() -> None:
    x = torch.ones(3, dtype=torch.float64, requires_grad=True)  # the minimum
    ours, theirs = LBFGS([x]), torch.optim.LBFGS([x.detach().clone().requires_grad_()])
    ours.step(_closure(x))
    theirs.step(_closure(theirs.param_groups[0]["params"][0]))
    assert dict(ours.state[x]) == {"func_evals": 1, "n_iter": 0}
    assert_states_close(ours, theirs)


def test_sparse_gradients_of_an_embedding_equal_torch() -> None:
    torch.manual_seed(0)
    ours_emb = torch.nn.Embedding(6, 3, sparse=True).double()
    theirs_emb = torch.nn.Embedding(6, 3, sparse=True).double()
    theirs_emb.load_state_dict(ours_emb.state_dict())
    indices = torch.tensor([0, 2, 2, 5])
    target = torch.randn(4, 3, dtype=torch.float64)

    def closure_for(emb: torch.nn.Embedding) -> Callable[[], torch.Tensor]:
        def closure() -> torch.Tensor:
            emb.zero_grad()
            loss = (emb(indices) - target).pow(2).sum()
            loss.backward()
            return loss
        return closure

    ours = LBFGS(ours_emb.parameters(), history_size=5, line_search_fn="strong_wolfe")
    theirs = torch.optim.LBFGS(theirs_emb.parameters(), history_size=5, line_search_fn="strong_wolfe")
    for _ in range(3):
        ours.step(closure_for(ours_emb))
        theirs.step(closure_for(theirs_emb))
    assert ours_emb.weight.grad is not None and ours_emb.weight.grad.is_sparse
    torch.testing.assert_close(ours_emb.weight, theirs_emb.weight, **EXACT)
    # Rows that were never looked up have zero gradient and stay where they were.
    untouched = [1, 3, 4]
    assert torch.equal(ours_emb.weight[untouched], theirs_emb.weight[untouched])


# ------------------------------------------------------------------------- the curvature history
def _spd_matrix(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(n, n, dtype=torch.float64, generator=g)
    return m @ m.T + n * torch.eye(n, dtype=torch.float64)


def _conjugate_steps(a: torch.Tensor, count: int, seed: int) -> list[torch.Tensor]:
    """``count`` random steps made A-conjugate (s_i^T A s_j = 0 for i != j) by Gram-Schmidt."""
    g = torch.Generator().manual_seed(seed)
    steps: list[torch.Tensor] = []
    for _ in range(count):
        s = torch.randn(a.shape[0], dtype=torch.float64, generator=g)
        for prior in steps:
            s = s - (prior @ a @ s) / (prior @ a @ prior) * prior
        steps.append(s)
    return steps


def _dense_bfgs_inverse(pairs: list[tuple[torch.Tensor, torch.Tensor]], gamma: float, n: int) -> torch.Tensor:
    """The L-BFGS inverse Hessian written out as a matrix: H0 = gamma I, then the BFGS update
    H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T for each pair, oldest first (N&W eq. 7.19)."""
    eye = torch.eye(n, dtype=torch.float64)
    h = gamma * eye
    for s, y in pairs:
        rho = 1.0 / y.dot(s)
        h = (eye - rho * torch.outer(s, y)) @ h @ (eye - rho * torch.outer(y, s)) + rho * torch.outer(s, s)
    return h


@pytest.mark.parametrize("earlier", [0, 3])
def test_history_of_n_conjugate_exact_pairs_gives_the_newton_direction(earlier: int) -> None:
    """On f(x) = x^T A x / 2 (gradient change y = A s), n A-conjugate exact pairs determine A
    completely: -H g is the Newton direction -A^{-1} g, whatever gamma is. ``earlier`` unrelated
    pairs offered first must have been pushed out by the n newer ones (capacity n)."""
    n = 5
    a = _spd_matrix(n, seed=1)
    history = CurvatureHistory(capacity=n)
    gen = torch.Generator().manual_seed(2)
    for _ in range(earlier):
        s = torch.randn(n, dtype=torch.float64, generator=gen)
        assert history.offer(s, 3.0 * s)  # the curvature of another matrix, 3 I
    for s in _conjugate_steps(a, n, seed=2):
        assert history.offer(s, a @ s)
    assert len(history) == n
    g = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    g_before = g.clone()
    alphas: list[Any] = [None] * (n + 2)
    direction = history.inverse_times(g, alphas)
    torch.testing.assert_close(direction, -torch.linalg.solve(a, g), rtol=1e-10, atol=1e-12)
    assert g.equal(g_before)  # the gradient is not modified
    # The first loop's coefficients land in the first n slots (0-dim tensors, as in torch's `al`).
    assert all(isinstance(alpha, torch.Tensor) and alpha.dim() == 0 for alpha in alphas[:n])
    assert alphas[n:] == [None, None]


def test_history_two_loop_equals_the_dense_bfgs_matrix() -> None:
    """Arbitrary (not conjugate, fewer than n) pairs: the two-loop product is exactly -H g for the
    matrix the BFGS updates build from H0 = gamma I, gamma = y.s / y.y of the newest pair."""
    n = 7
    gen = torch.Generator().manual_seed(11)
    a = _spd_matrix(n, seed=12)
    history = CurvatureHistory(capacity=4)
    pairs = []
    for _ in range(4):
        s = torch.randn(n, dtype=torch.float64, generator=gen)
        y = a @ s + 0.1 * torch.randn(n, dtype=torch.float64, generator=gen)  # noisy, still y.s > 0
        assert history.offer(s, y)
        pairs.append((s, y))
    s_new, y_new = pairs[-1]
    gamma = (y_new.dot(s_new) / y_new.dot(y_new)).item()
    assert float(history.gamma) == pytest.approx(gamma, rel=1e-14)
    for i, (s, y) in enumerate(pairs):
        assert history.steps[i] is s and history.grad_changes[i] is y
        assert float(history.rho[i]) == pytest.approx(1.0 / y.dot(s).item(), rel=1e-14)
    h = _dense_bfgs_inverse(pairs, gamma, n)
    for _ in range(3):
        g = torch.randn(n, dtype=torch.float64, generator=gen)
        torch.testing.assert_close(history.inverse_times(g, [None] * 4), -(h @ g), rtol=1e-10, atol=1e-12)


def test_history_rejects_pairs_without_enough_curvature() -> None:
    history = CurvatureHistory(capacity=3)
    assert history.inverse_times(torch.tensor([2.0, -1.0], dtype=torch.float64), [None] * 3).tolist() == [-2.0, 1.0]
    s = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert history.offer(s, torch.tensor([2.0, 1.0], dtype=torch.float64))
    gamma = history.gamma
    rejected = [
        torch.tensor([-1.0, 3.0], dtype=torch.float64),  # negative curvature
        torch.tensor([0.0, 5.0], dtype=torch.float64),  # y orthogonal to s
        torch.tensor([MIN_CURVATURE, 1.0], dtype=torch.float64),  # y.s exactly at the threshold
    ]
    for y in rejected:
        assert not history.offer(s, y)
    assert len(history) == len(history.grad_changes) == len(history.rho) == 1
    assert history.gamma is gamma
    assert history.offer(s, torch.tensor([2 * MIN_CURVATURE, 1.0], dtype=torch.float64))  # just above
    assert len(history) == 2


def test_history_drops_the_oldest_pair_when_full() -> None:
    history = CurvatureHistory(capacity=2)
    steps = [torch.full((3,), float(k + 1), dtype=torch.float64) for k in range(4)]
    changes = [2.0 * s for s in steps]
    for s, y in zip(steps, changes):
        assert history.offer(s, y)
        assert len(history) <= 2
    assert history.steps == steps[2:] and history.grad_changes == changes[2:]
    assert all(a is b for a, b in zip(history.steps, steps[2:]))
    assert [float(r) for r in history.rho] == pytest.approx([1 / (2 * 27.0), 1 / (2 * 48.0)])
    assert float(history.gamma) == pytest.approx(0.5)


def test_history_wraps_torchs_state_lists_in_place() -> None:
    """The history works on the very lists of torch's state layout (no copies), so a state
    loaded from torch continues, and ours saves as torch's."""
    x = torch.tensor([-1.2, 1.0, 0.4], dtype=torch.float64, requires_grad=True)
    theirs = torch.optim.LBFGS([x], history_size=3, max_iter=6)
    theirs.step(_closure(x))
    state = theirs.state[x]
    history = CurvatureHistory(3, steps=state["old_stps"], grad_changes=state["old_dirs"], rho=state["ro"],
                               gamma=state["H_diag"])
    assert history.steps is state["old_stps"] and len(history) == len(state["old_dirs"]) > 0
    g = state["prev_flat_grad"]
    alphas: list[Any] = [None] * 3
    ours = history.inverse_times(g, alphas)
    # torch's last direction came from the same history at the same gradient (it then stepped).
    torch.testing.assert_close(ours, state["d"], **EXACT)
    count = len(history)
    for mine, torchs in zip(alphas[:count], state["al"][:count]):
        torch.testing.assert_close(mine, torchs, **EXACT)


# ----------------------------------------------------------------------------------- preinitialize
def _params() -> list[torch.Tensor]:
    return random_params([(3, 2), (4,)], seed=4)


def _quadratic(params: list[torch.Tensor], step: int) -> Callable[[], torch.Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    targets = [torch.randn(p.shape, dtype=p.dtype, generator=g) for p in params]

    def closure() -> torch.Tensor:
        for p in params:
            p.grad = None
        loss = sum(((p - t) ** 2 * (i + 1)).sum() for i, (p, t) in enumerate(zip(params, targets)))
        loss.backward()  # type: ignore[union-attr]
        return loss  # type: ignore[return-value]

    return closure


def test_preinitialize_allocates_the_flat_buffers_and_documents_the_history() -> None:
    params = _params()
    opt = LBFGS(params, history_size=4)
    opt.preinitialize()
    state = opt.state[params[0]]
    numel = sum(p.numel() for p in params)
    assert state["d"].shape == state["prev_flat_grad"].shape == (numel,)
    assert state["d"].dtype == torch.float64
    assert state["al"] == [None] * 4
    # The history cannot be allocated ahead (its length is the number of stored pairs in torch's
    # layout): it starts empty.
    assert state["old_dirs"] == [] and state["old_stps"] == [] and state["ro"] == []
    assert len(opt.state.get(params[1], {})) == 0  # all state lives on the first parameter

    d, prev_flat_grad = state["d"], state["prev_flat_grad"]
    keys = list(state)
    for step in range(3):
        opt.step(_quadratic(params, step))
    # No new key, and the flat buffers are written in place, never reallocated.
    assert sorted(state) == sorted(keys)
    assert state["d"] is d and state["prev_flat_grad"] is prev_flat_grad
    assert len(state["old_dirs"]) == 4  # the history filled up during the steps


def test_preinitialized_state_cross_loads_into_torch() -> None:
    """A preinitialized (never stepped) state is valid torch state: torch continues from it
    exactly as from nothing."""
    params = _params()
    opt = LBFGS(params, history_size=3)
    opt.preinitialize()
    torch_params = clone_params(params)
    loaded = torch.optim.LBFGS(torch_params, history_size=3)
    loaded.load_state_dict(opt.state_dict())
    fresh_params = clone_params(params)
    fresh = torch.optim.LBFGS(fresh_params, history_size=3)
    for step in range(3):
        loaded.step(_quadratic(torch_params, step))
        fresh.step(_quadratic(fresh_params, step))
    for a, b in zip(torch_params, fresh_params):
        torch.testing.assert_close(a, b, **EXACT)


def test_state_names_to_sparsify_is_empty() -> None:
    assert LBFGS(_params()).state_names_to_sparsify() == []


def test_global_step_counts_steps_not_iterations() -> None:
    params = _params()
    opt = LBFGS(params, max_iter=5)
    opt.enable_global_step = True
    for step in range(3):
        opt.step(_quadratic(params, step))
    assert opt.state[params[0]]["n_iter"] > 3
    for p in params:
        assert opt.state[p]["global_step"].item() == 3.0


# ---------------------------------------------------------------------------- the line search
def test_cubic_minimizer_finds_the_minimum_of_a_cubic() -> None:
    # f(x) = x^3 - 3x: local minimum at x = 1. The interpolating cubic through two points with
    # their values and slopes is f itself, so the result is exact, whichever point comes first.
    f = lambda x: x**3 - 3 * x  # noqa: E731
    df = lambda x: torch.tensor(3 * x**2 - 3.0, dtype=torch.float64)  # noqa: E731
    for a, b in ((0.0, 2.0), (2.0, 0.0), (0.5, 1.7)):
        assert float(cubic_minimizer(a, f(a), df(a), b, f(b), df(b))) == pytest.approx(1.0, rel=1e-12)
    # Clamped to the bounds given.
    assert float(cubic_minimizer(0.0, f(0.0), df(0.0), 2.0, f(2.0), df(2.0), bounds=(1.5, 3.0))) == 1.5


def test_cubic_minimizer_falls_back_to_the_middle_without_a_minimum() -> None:
    # Slopes of the same sign and values consistent with a monotone cubic (x^3 + x): no real
    # critical point, so the middle of the interval.
    f = lambda x: x**3 + x  # noqa: E731
    df = lambda x: torch.tensor(3 * x**2 + 1.0, dtype=torch.float64)  # noqa: E731
    assert float(cubic_minimizer(-1.0, f(-1.0), df(-1.0), 3.0, f(3.0), df(3.0))) == pytest.approx(1.0)


@pytest.mark.parametrize("first_step", [1e-3, 1.0, 50.0])
def test_strong_wolfe_returns_a_point_satisfying_both_conditions(first_step: float) -> None:
    """Checked directly on a smooth function (not against torch): sufficient decrease and the
    strong curvature condition, with torch's constants c1 = 1e-4, c2 = 0.9."""
    center = torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64)

    def loss_and_grad(x: torch.Tensor) -> tuple[float, torch.Tensor]:
        x = x.detach().requires_grad_()
        loss = ((x - center) ** 4).sum() + (x**2).sum()
        (grad,) = torch.autograd.grad(loss, x)
        return loss.item(), grad

    x0 = torch.zeros(3, dtype=torch.float64)
    f0, g0 = loss_and_grad(x0)
    d = -g0
    gtd = g0.dot(d)
    f_t, g_t, t, evaluations = strong_wolfe(lambda step: loss_and_grad(x0 + step * d), first_step, d, f0, g0, gtd)
    t = float(t)
    assert 0 < t and evaluations >= 1
    assert f_t <= f0 + 1e-4 * t * gtd.item()
    assert abs(g_t.dot(d).item()) <= 0.9 * abs(gtd.item())
    # What it returns is the value and gradient at the returned step.
    f_check, g_check = loss_and_grad(x0 + t * d)
    assert f_t == pytest.approx(f_check, rel=1e-12)
    torch.testing.assert_close(g_t, g_check)


def test_strong_wolfe_stops_after_max_ls_evaluations() -> None:
    calls: list[float] = []

    def evaluate(step: Any) -> tuple[float, torch.Tensor]:
        # f(t) = -t: always descending as steeply as at the start, so the curvature condition
        # never holds and the search keeps extrapolating (the cubic's minimum is clamped to 10 t).
        calls.append(float(step))
        return -float(step), torch.tensor([-1.0], dtype=torch.float64)

    d = torch.ones(1, dtype=torch.float64)
    f0, g0 = 0.0, torch.tensor([-1.0], dtype=torch.float64)
    _, _, t, evaluations = strong_wolfe(evaluate, 0.01, d, f0, g0, g0.dot(d), max_ls=3)
    assert evaluations == len(calls) == 4  # the first try plus max_ls more
    assert float(t) == calls[-1]


def _wavy(seed: int) -> Callable[[torch.Tensor], tuple[float, torch.Tensor]]:
    """A non-convex function (a bowl with ripples): line searches on it bracket, zoom, stall
    near bracket ends and run out of evaluations."""
    g = torch.Generator().manual_seed(seed)
    freq = torch.rand(4, dtype=torch.float64, generator=g) * 14 + 1
    center = torch.randn(4, dtype=torch.float64, generator=g)

    def loss_and_grad(x: torch.Tensor) -> tuple[float, torch.Tensor]:
        x = x.detach().requires_grad_()
        loss = (torch.sin(freq * x) + 0.3 * (x - center) ** 2).sum()
        (grad,) = torch.autograd.grad(loss, x)
        return loss.item(), grad

    return loss_and_grad


@pytest.mark.parametrize("max_ls", [2, 25])
@pytest.mark.parametrize("seed", range(10))
def test_line_search_equals_torchs_on_wavy_functions(seed: int, max_ls: int) -> None:
    """Every phase of the search, step by step, against torch's own line search (the oracle)."""
    from torch.optim.lbfgs import _strong_wolfe as torch_strong_wolfe

    loss_and_grad = _wavy(seed)
    x0 = torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(50 + seed))
    f0, g0 = loss_and_grad(x0)
    d = -g0
    for first_step in (1e-3, 0.01, 0.05, 0.2, 0.4, 1.0, 3.0, 20.0):
        ours_calls: list[float] = []
        theirs_calls: list[float] = []

        def tracked(calls: list[float]) -> Callable[..., tuple[float, torch.Tensor]]:
            def evaluate(step: Any) -> tuple[float, torch.Tensor]:
                calls.append(float(step))
                return loss_and_grad(x0 + step * d)
            return evaluate

        ours = strong_wolfe(tracked(ours_calls), first_step, d, f0, g0, g0.dot(d), max_ls=max_ls)
        evaluate = tracked(theirs_calls)
        theirs = torch_strong_wolfe(lambda x, t, d: evaluate(t), x0, first_step, d, f0, g0, g0.dot(d), max_ls=max_ls)
        assert ours_calls == pytest.approx(theirs_calls, rel=1e-12, abs=0), first_step
        assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
        torch.testing.assert_close(ours[1], theirs[1], **EXACT)
        assert float(ours[2]) == pytest.approx(float(theirs[2]), rel=1e-12)
        assert ours[3] == theirs[3]


def test_line_search_brackets_when_the_loss_rises_while_still_descending() -> None:
    """A scripted line (values and slopes need not agree): the second extrapolated point is
    higher than the first yet still sufficiently below the start, with a negative slope. torch
    (and Lua torch before it) only brackets on a rise from the third trial on; so must we."""
    from torch.optim.lbfgs import _strong_wolfe as torch_strong_wolfe

    def scripted(calls: list[float]) -> Callable[[Any], tuple[float, torch.Tensor]]:
        def evaluate(step: Any) -> tuple[float, torch.Tensor]:
            t = float(step)
            calls.append(t)
            return (-t if t <= 1 else -0.5 - 0.001 * t), torch.tensor([-1.0], dtype=torch.float64)
        return evaluate

    d = torch.ones(1, dtype=torch.float64)
    g0 = torch.tensor([-1.0], dtype=torch.float64)
    ours_calls: list[float] = []
    theirs_calls: list[float] = []
    ours = strong_wolfe(scripted(ours_calls), 1.0, d, 0.0, g0, g0.dot(d))
    evaluate = scripted(theirs_calls)
    theirs = torch_strong_wolfe(lambda x, t, d: evaluate(t), None, 1.0, d, 0.0, g0, g0.dot(d))
    assert ours_calls == pytest.approx(theirs_calls, rel=1e-12)
    assert len(ours_calls) > 3  # it went on past the rise at the second trial
    assert float(ours[2]) == pytest.approx(float(theirs[2]), rel=1e-12) and ours[3] == theirs[3]
