"""The base class: torch interoperability and the Cerebras additions."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest
import torch

import optimkit.optim as optimkit_optim
import optimkit.optim.optimizer as optimizer_module
import torch.optim.optimizer as torch_optimizer_module
from optimkit.optim import SGD, Adam, AdamW, Optimizer


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int,
           scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> list[float]:
    generator = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        x = torch.randn(16, 4, generator=generator)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses


def test_is_a_torch_optimizer() -> None:
    for cls in (SGD, Adam, AdamW):
        assert issubclass(cls, torch.optim.Optimizer)
        assert issubclass(cls, Optimizer)


def test_torch_scheduler_drives_our_optimizer_like_torchs() -> None:
    ours_model, theirs_model = _model(), _model()
    ours = AdamW(ours_model.parameters(), lr=0.01)
    theirs = torch.optim.AdamW(theirs_model.parameters(), lr=0.01)
    ours_sched = torch.optim.lr_scheduler.StepLR(ours, step_size=3, gamma=0.5)
    theirs_sched = torch.optim.lr_scheduler.StepLR(theirs, step_size=3, gamma=0.5)
    assert _train(ours_model, ours, 10, ours_sched) == pytest.approx(_train(theirs_model, theirs, 10, theirs_sched), rel=1e-6)
    assert ours_sched.get_last_lr() == theirs_sched.get_last_lr()


def test_step_hooks_run() -> None:
    model = _model()
    opt = SGD(model.parameters(), lr=0.1)
    calls: list[str] = []
    opt.register_step_pre_hook(lambda *_: calls.append("pre"))
    opt.register_step_post_hook(lambda *_: calls.append("post"))
    _train(model, opt, 2)
    assert calls == ["pre", "post", "pre", "post"]


def test_grad_scaler_skips_inf_steps_with_fused_adam() -> None:
    model = _model()
    opt = Adam(model.parameters(), lr=0.01, fused=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    x = torch.randn(8, 4)
    loss = model(x).pow(2).mean()
    scaler.scale(loss).backward()
    before = [p.detach().clone() for p in model.parameters()]
    next(model.parameters()).grad.view(-1)[0] = float("inf")
    scaler.step(opt)
    scaler.update()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # A skipped step is not counted.
    assert all(opt.state[p]["step"].item() == 0 for p in model.parameters())
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt)
    assert all(opt.state[p]["step"].item() == 1 for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_state_names_to_sparsify() -> None:
    w = torch.nn.Parameter(torch.zeros(3, 2))
    assert SGD([w], lr=0.1).state_names_to_sparsify() == []
    assert SGD([w], lr=0.1, momentum=0.9).state_names_to_sparsify() == ["momentum_buffer"]
    assert Adam([w]).state_names_to_sparsify() == ["exp_avg", "exp_avg_sq"]
    assert AdamW([w], amsgrad=True).state_names_to_sparsify() == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
    # Asking allocates nothing.
    opt = Adam([w])
    opt.state_names_to_sparsify()
    assert len(opt.state) == 0


def test_global_step_counts_steps_per_parameter() -> None:
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2))
    opt = SGD([a, b], lr=0.1)
    opt.enable_global_step = True
    opt.preinitialize()
    assert opt.state[a]["global_step"].dtype == torch.float32
    assert opt.state[a]["global_step"].item() == 0
    for step in range(3):
        a.grad = torch.ones(2)
        b.grad = torch.ones(2) if step == 0 else None
        opt.step()
    assert opt.state[a]["global_step"].item() == 3
    assert opt.state[b]["global_step"].item() == 1
    counter = opt.increment_global_step(a)
    assert counter.dtype == torch.float32 and counter.item() == 4


def test_global_step_is_off_by_default() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = Adam([w])
    w.grad = torch.ones(2)
    opt.step()
    assert "global_step" not in opt.state[w]


def test_global_step_via_constructor_and_lazy_state() -> None:
    w = torch.nn.Parameter(torch.ones(2))

    class Counting(SGD):
        def __init__(self, params: list[torch.Tensor]) -> None:
            super().__init__(params, lr=0.1)
            self.enable_global_step = True

    opt = Counting([w])
    w.grad = torch.ones(2)
    opt.step()
    opt.step()
    assert opt.state[w]["global_step"].item() == 2


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickle_and_deepcopy_keep_working(how: str) -> None:
    model = _model()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.5)
    opt.enable_global_step = True
    _train(model, opt, 2)
    clone = pickle.loads(pickle.dumps(opt)) if how == "pickle" else copy.deepcopy(opt)
    assert clone.enable_global_step is True
    assert clone.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_zero_grad_sets_none() -> None:
    model = _model()
    opt = Adam(model.parameters())
    _train(model, opt, 1)
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_sparse_gradient_is_rejected() -> None:
    w = torch.nn.Parameter(torch.zeros(4, 2))
    w.grad = torch.sparse_coo_tensor([[0]], torch.ones(1, 2), (4, 2))
    with pytest.raises(RuntimeError, match="Adam does not support sparse gradients"):
        Adam([w]).step()


# ------------------------------------------------------------------------- global step hooks
# optimkit.optim.optimizer offers torch.optim.optimizer's two global hook registrations, over
# torch's own registry: a hook fires for optimkit's and torch's optimizers whichever module
# registered it, and the handles remove it.


@pytest.mark.parametrize("registrar", ["optimkit", "torch"])
def test_global_hooks_fire_for_both_libraries_in_torchs_order(registrar: str) -> None:
    module = optimizer_module if registrar == "optimkit" else torch_optimizer_module
    calls: list[tuple[str, str]] = []

    def record(label: str) -> Callable[..., None]:
        return lambda opt, args, kwargs: calls.append((type(opt).__module__.split(".")[0], label))

    w = torch.nn.Parameter(torch.ones(2))
    ours, theirs = Adam([w]), torch.optim.SGD([w], lr=0.1)
    handles = [
        module.register_optimizer_step_pre_hook(record("global pre")),
        module.register_optimizer_step_post_hook(record("global post")),
    ]
    for opt in (ours, theirs):
        handles.append(opt.register_step_pre_hook(record("pre")))
        handles.append(opt.register_step_post_hook(record("post")))
    w.grad = torch.ones(2)
    ours.step()
    theirs.step()
    order = ["global pre", "pre", "post", "global post"]
    assert calls == [("optimkit", label) for label in order] + [("torch", label) for label in order]
    for handle in handles:
        handle.remove()
    ours.step()
    theirs.step()
    assert len(calls) == 8


def test_global_pre_hook_may_replace_the_arguments() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    opt = SGD([w], lr=0.1)
    seen: list[float] = []

    def closure() -> float:
        seen.append(1.0)
        return 1.0

    # The hook gets and returns the step's positional arguments, the optimizer first.
    handle = optimizer_module.register_optimizer_step_pre_hook(lambda o, args, kwargs: ((args[0], closure), {}))
    try:
        w.grad = torch.ones(2)
        assert opt.step() == 1.0
    finally:
        handle.remove()
    assert seen == [1.0]


@pytest.mark.parametrize("cls_name", ["SGD", "Adam", "LBFGS"])
def test_a_profiler_sees_the_step_under_torchs_name(cls_name: str) -> None:
    # The step wrapper opens its range with the fast record function: a profiler must still
    # show torch's "Optimizer.step#<class>.step", around the step's own operators.
    from torch.profiler import profile

    names = {}
    for library in (torch.optim, optimkit_optim):
        w = torch.nn.Parameter(torch.ones(3))
        w.grad = torch.ones(3)
        opt = getattr(library, cls_name)([w], lr=0.1)
        with profile() as prof:
            opt.step((lambda: (w * w).sum()) if cls_name == "LBFGS" else None)
        names[library.__name__] = sorted({e.name for e in prof.events() if e.name.startswith("Optimizer.")})
    assert names["optimkit.optim"] == names["torch.optim"] == [f"Optimizer.step#{cls_name}.step"]


def test_a_pre_hook_returning_something_else_fails_as_in_torch() -> None:
    messages = []
    for library in (torch.optim, optimkit_optim):
        w = torch.nn.Parameter(torch.ones(2))
        w.grad = torch.ones(2)
        opt = library.SGD([w], lr=0.1)
        opt.register_step_pre_hook(lambda *_: "not a pair")
        with pytest.raises(RuntimeError) as error:
            opt.step()
        messages.append(str(error.value))
    # The message names the wrapped function (its address differs); the rest is the same.
    assert [m.split(" must ")[1] for m in messages] == [messages[0].split(" must ")[1]] * 2
    assert "but got not a pair" in messages[1]


def test_global_hooks_fire_for_lbfgs_which_has_its_own_step() -> None:
    from optimkit.optim import LBFGS

    w = torch.nn.Parameter(torch.ones(2))
    calls: list[str] = []
    pre = optimizer_module.register_optimizer_step_pre_hook(lambda *_: calls.append("global pre"))
    post = optimizer_module.register_optimizer_step_post_hook(lambda *_: calls.append("global post"))
    try:
        def closure() -> torch.Tensor:
            w.grad = 2 * w.detach()
            return (w.detach() ** 2).sum()

        LBFGS([w], max_iter=2).step(closure)
    finally:
        pre.remove()
        post.remove()
    assert calls == ["global pre", "global post"]


def test_optimizer_module_mirrors_torchs_public_names() -> None:
    assert optimizer_module.required is torch_optimizer_module.required
    assert optimizer_module.Optimizer is Optimizer
    public = {name for name in dir(torch_optimizer_module) if not name.startswith("_")}
    for name in ("Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook", "required",
                 "ParamsT", "StateDict", "Args", "Kwargs", "GlobalOptimizerPreHook", "GlobalOptimizerPostHook"):
        assert name in public and hasattr(optimizer_module, name), name
