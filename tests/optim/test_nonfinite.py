"""The opt-in non-finite gradient guard (:func:`optimkit.optim.skip_nonfinite`).

* for every registered optimizer (both namespaces) and for torch's own: a step with a NaN or an
  infinite gradient is skipped, and parameters, state (step counters included) and param_groups
  are exactly as before; the next finite step gives what an unguarded optimizer gives;
* the guard says so: a ``RuntimeWarning`` naming the parameters (unless ``warn=False``), and
  ``skipped_steps`` / ``last_step_skipped`` / ``last_nonfinite``;
* schedulers (torch's and optimkit's), built before or after the guard, see a skipped step as a
  call of ``optimizer.step()``: no call-order warning, no "overridden" warning;
* closures (one evaluation, LBFGS included), sparse gradients, step hooks, ``remove()``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch

import optimkit.optim as ok
import optimkit.optim.lr_scheduler as O
from optimkit.optim import NonFiniteGuard, nonfinite_grads, skip_nonfinite
from optimkit.registry import optimizer_specs

pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")

SPECS = [(ns, spec) for ns in ("optim", "cerebras") for spec in optimizer_specs(ns)]
NAN, INF = float("nan"), float("inf")


def _params(name: str) -> list[torch.nn.Parameter]:
    torch.manual_seed(0)
    if name == "sparseadam":
        return [torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))]
    if name == "muon":
        return [torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64))]
    return [torch.nn.Parameter(torch.randn(3, 2, dtype=torch.float64)),
            torch.nn.Parameter(torch.randn(2, dtype=torch.float64))]


def _build(ns: str, spec: Any, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    kwargs: dict[str, Any] = {"lr": 0.01}
    if ns == "cerebras" and spec.name == "adafactor":
        kwargs = {"lr": 0.01}
    return spec.cls(params, **kwargs)


def _set_grads(name: str, params: list[torch.nn.Parameter], poison: float | None = None, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    for i, p in enumerate(params):
        if name == "sparseadam":
            values = torch.randn(2, p.shape[1], generator=gen, dtype=p.dtype)
            if poison is not None:
                values[0, 0] = poison
            p.grad = torch.sparse_coo_tensor(torch.tensor([[0, 3]]), values, p.shape)
        else:
            grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if poison is not None and i == len(params) - 1:
                grad.view(-1)[0] = poison
            p.grad = grad


def _step(name: str, opt: torch.optim.Optimizer, params: list[torch.nn.Parameter],
          poison: float | None = None, seed: int = 1) -> Any:
    if name == "lbfgs":
        def closure() -> torch.Tensor:
            _set_grads(name, params, poison, seed)
            return torch.tensor(1.0)
        return opt.step(closure)
    _set_grads(name, params, poison, seed)
    return opt.step()


def _snapshot(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> Any:
    return copy.deepcopy(([p.detach().clone() for p in params], opt.state_dict()))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
                and a.layout == b.layout and torch.equal(a.to_dense(), b.to_dense()))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


@pytest.mark.parametrize(("ns", "spec"), SPECS, ids=[f"{ns}-{spec.name}" for ns, spec in SPECS])
@pytest.mark.parametrize("poison", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
def test_skipped_step_leaves_everything_untouched(ns: str, spec: Any, poison: float) -> None:
    name = spec.name
    params = _params(name)
    guarded = _build(ns, spec, params)
    reference_params = [torch.nn.Parameter(p.detach().clone()) for p in params]
    reference = _build(ns, spec, reference_params)
    guard = skip_nonfinite(guarded, warn=False)

    for seed in (1, 2):  # some state first
        _step(name, guarded, params, seed=seed)
        _step(name, reference, reference_params, seed=seed)
    assert guard.skipped_steps == 0 and not guard.last_step_skipped

    before = _snapshot(guarded, params)
    _step(name, guarded, params, poison=poison, seed=3)
    assert guard.skipped_steps == 1 and guard.last_step_skipped
    assert _same(_snapshot(guarded, params), before)
    assert all(torch.isfinite(p).all() for p in params)

    # The next finite step is the step the unguarded optimizer takes.
    _step(name, guarded, params, seed=4)
    _step(name, reference, reference_params, seed=4)
    assert not guard.last_step_skipped
    for p, q in zip(params, reference_params):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert _same(guarded.state_dict(), reference.state_dict())


def test_first_step_skipped_creates_no_state() -> None:
    w = torch.nn.Parameter(torch.ones(3))
    opt = ok.Adam([w], lr=0.1)
    guard = skip_nonfinite(opt, warn=False)
    w.grad = torch.tensor([1.0, NAN, 1.0])
    assert opt.step() is None
    assert len(opt.state) == 0 and guard.last_nonfinite == ["group 0, parameter 0"]


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.SGD, torch.optim.AdamW])
def test_torch_optimizers_are_guarded_too(cls: type) -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = cls([w], lr=0.1)
    w.grad = torch.ones(2)
    opt.step()
    guard = skip_nonfinite(opt, warn=False)
    before = copy.deepcopy((w.detach().clone(), opt.state_dict()))
    w.grad = torch.tensor([INF, 0.0])
    opt.step()
    assert guard.skipped_steps == 1
    assert _same((w.detach().clone(), opt.state_dict()), before)


def test_warning_names_the_parameters_and_counts() -> None:
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2))
    opt = ok.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    guard = skip_nonfinite(opt)
    a.grad, b.grad = torch.ones(2), torch.tensor([0.0, NAN])
    with pytest.warns(RuntimeWarning, match=r"skip_nonfinite: SGD.step\(\) skipped.*group 1, parameter 0.*1 step"):
        opt.step()
    with pytest.warns(RuntimeWarning, match=r"2 step\(s\) skipped so far"):
        opt.step()
    assert guard.skipped_steps == 2 and nonfinite_grads(opt) == ["group 1, parameter 0"]
    guard.warn = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    assert guard.skipped_steps == 3


@pytest.mark.parametrize("scheduler_after", [False, True])
def test_warning_points_at_the_callers_step(scheduler_after: bool) -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = ok.SGD([w], lr=0.1)
    skip_nonfinite(opt)
    if scheduler_after:
        O.StepLR(opt, step_size=1)  # wraps the guarded step
    w.grad = torch.tensor([NAN, 0.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.step()
    assert [c.filename for c in caught if issubclass(c.category, RuntimeWarning)] == [__file__]


def test_named_parameters_are_named() -> None:
    model = torch.nn.Linear(2, 1)
    opt = ok.Adam(model.named_parameters(), lr=0.1)
    guard = skip_nonfinite(opt, warn=False)
    model.weight.grad = torch.ones(1, 2)
    model.bias.grad = torch.tensor([INF])
    opt.step()
    assert guard.last_nonfinite == ["group 0, parameter 1 (bias)"]


def _order_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "lr_scheduler" in str(w.message) or "overridden" in str(w.message)]


Scheduler = Callable[[torch.optim.Optimizer], Any]


@pytest.mark.parametrize("make_scheduler", [
    lambda opt: O.StepLR(opt, step_size=1, gamma=0.5),
    lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
    lambda opt: O.OneCycleLR(opt, max_lr=0.1, total_steps=10),
], ids=["optimkit", "torch", "optimkit-onecycle"])
@pytest.mark.parametrize("guard_first", [True, False], ids=["guard-first", "scheduler-first"])
@pytest.mark.parametrize("cls", [ok.SGD, torch.optim.SGD], ids=["optimkit-sgd", "torch-sgd"])
def test_schedulers_see_a_skipped_step_as_a_step(make_scheduler: Scheduler, guard_first: bool, cls: type) -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = cls([w], lr=0.1, momentum=0.9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if guard_first:
            guard = skip_nonfinite(opt, warn=False)
            sched = make_scheduler(opt)
        else:
            sched = make_scheduler(opt)
            guard = skip_nonfinite(opt, warn=False)
        w.grad = torch.tensor([NAN, 1.0])
        opt.step()  # the very first step is skipped
        sched.step()
        w.grad = torch.ones(2)
        opt.step()
        sched.step()
    assert _order_warnings(caught) == []
    assert guard.skipped_steps == 1 and not guard.last_step_skipped
    assert sched.last_epoch == 2


def test_unguarded_first_step_still_warns() -> None:
    # The guard does not hide a real mistake: no optimizer.step() at all before the scheduler's.
    w = torch.nn.Parameter(torch.ones(2))
    opt = ok.SGD([w], lr=0.1)
    skip_nonfinite(opt, warn=False)
    sched = O.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`"):
        sched.step()


def test_closure_is_evaluated_once_and_its_loss_returned() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = ok.SGD([w], lr=0.1)
    guard = skip_nonfinite(opt, warn=False)
    calls = []

    def closure(poison: float) -> Callable[[], torch.Tensor]:
        def evaluate() -> torch.Tensor:
            calls.append(poison)
            opt.zero_grad()
            loss = (w * torch.tensor([1.0, poison])).sum()
            loss.backward()
            return loss.detach()
        return evaluate

    assert opt.step(closure(2.0)).item() == 3.0
    assert calls == [2.0] and torch.equal(w.detach(), torch.tensor([0.9, 0.8]))
    loss = opt.step(closure(INF))
    assert loss.item() == INF and guard.skipped_steps == 1 and len(calls) == 2
    assert torch.equal(w.detach(), torch.tensor([0.9, 0.8]))
    assert opt.step(closure=closure(1.0)) is not None and len(calls) == 3


def test_lbfgs_line_search_evaluations_still_run() -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(3, dtype=torch.float64))
    ref = torch.nn.Parameter(w.detach().clone())

    def make(opt: torch.optim.Optimizer, p: torch.Tensor) -> Callable[[], torch.Tensor]:
        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = ((p - 1.0) ** 2).sum()
            loss.backward()
            return loss
        return closure

    guarded = ok.LBFGS([w], lr=1, max_iter=5, line_search_fn="strong_wolfe")
    plain = ok.LBFGS([ref], lr=1, max_iter=5, line_search_fn="strong_wolfe")
    skip_nonfinite(guarded, warn=False)
    guarded.step(make(guarded, w))
    plain.step(make(plain, ref))
    torch.testing.assert_close(w, ref, rtol=0, atol=0)
    assert _same(guarded.state_dict(), plain.state_dict())


def test_sparse_gradients_are_checked() -> None:
    emb = torch.nn.Embedding(4, 2, sparse=True)
    opt = ok.SparseAdam(emb.parameters(), lr=0.1)
    guard = skip_nonfinite(opt, warn=False)
    emb(torch.tensor([1])).sum().backward()
    opt.step()
    before = _snapshot(opt, list(emb.parameters()))
    emb.weight.grad = torch.sparse_coo_tensor(torch.tensor([[2]]), torch.tensor([[NAN, 0.0]]), (4, 2))
    opt.step()
    assert guard.skipped_steps == 1 and _same(_snapshot(opt, list(emb.parameters())), before)


def test_hooks_do_not_run_for_a_skipped_step() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = ok.Adam([w], lr=0.1)
    seen: list[str] = []
    opt.register_step_pre_hook(lambda *args: seen.append("pre"))
    opt.register_step_post_hook(lambda *args: seen.append("post"))
    skip_nonfinite(opt, warn=False)
    w.grad = torch.tensor([NAN, NAN])
    opt.step()
    assert seen == []
    w.grad = torch.ones(2)
    opt.step()
    assert seen == ["pre", "post"]


def test_install_twice_remove_and_context_manager() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = ok.SGD([w], lr=0.1)
    plain_step = opt.step
    guard = skip_nonfinite(opt)
    assert skip_nonfinite(opt, warn=False) is guard and guard.warn is False
    assert isinstance(guard, NonFiniteGuard) and "active" in repr(guard)
    guard.remove()
    guard.remove()  # idempotent
    assert "step" not in opt.__dict__ and opt.step == plain_step
    w.grad = torch.tensor([NAN, 0.0])
    opt.step()  # unguarded again: the NaN goes through
    assert torch.isnan(w).any()

    with torch.no_grad():
        w.fill_(1.0)
    with skip_nonfinite(opt, warn=False) as inner:
        opt.step()
        assert inner.skipped_steps == 1 and torch.equal(w.detach(), torch.ones(2))
    assert not inner.active and "step" not in opt.__dict__


def test_remove_after_a_scheduler_wrapped_the_guard() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = ok.SGD([w], lr=0.1)
    guard = skip_nonfinite(opt, warn=False)
    sched = O.StepLR(opt, step_size=1)
    guard.remove()  # the scheduler's wrapper stays; the guard passes calls through
    w.grad = torch.tensor([INF, 0.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.step()
        sched.step()
    assert _order_warnings(caught) == [] and torch.isinf(w).any() and guard.skipped_steps == 0


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        skip_nonfinite(object())  # type: ignore[arg-type]
    w = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(TypeError, match="warn must be a bool"):
        skip_nonfinite(ok.SGD([w], lr=0.1), warn="yes")  # type: ignore[arg-type]


def test_state_dict_and_pickle_do_not_carry_the_guard() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = ok.Adam([w], lr=0.1)
    skip_nonfinite(opt, warn=False)
    w.grad = torch.ones(2)
    opt.step()
    clone = copy.deepcopy(opt)
    assert "_nonfinite_guard" not in opt.state_dict() and "_nonfinite_guard" not in clone.__dict__
