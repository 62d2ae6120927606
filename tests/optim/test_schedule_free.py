"""Schedule-free SGD and AdamW against the ``schedulefree`` package (the reference for behaviour,
signatures and defaults), step by step in float64, with mode switches, resumes and errors.

Tolerance of the comparisons: ``EXACT`` (rtol 1e-12, atol 1e-14). Both implementations apply the
same element-wise operations, with the same Python-float scalars computed by the same formulas, in
the same order, to float64 tensors: the numbers agree to the last bit today (the differences seen
are 0.0). The small allowance only keeps the test from depending on how a kernel is vectorised or
on the executor splitting a tensor into pieces; anything that changed the algorithm (an operand,
an order of scalar operations, a counter off by one) shows as differences of 1e-8 and more.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch import Tensor

from optimkit import config, demo
from optimkit.optim import AdamWScheduleFree, SGDScheduleFree
from optimkit.optim.schedule_free import averaging_step
from tests._harness import EXACT

schedulefree = pytest.importorskip("schedulefree")

PAIRS = {"sgd": (SGDScheduleFree, schedulefree.SGDScheduleFree), "adamw": (AdamWScheduleFree, schedulefree.AdamWScheduleFree)}
SHAPES = ((5, 3), (4,), (2, 3, 2), (3,))
STEPS = 24

CONFIGS: dict[str, list[dict[str, Any]]] = {
    "sgd": [
        {},
        {"lr": 0.2, "momentum": 0.8, "weight_decay": 0.05, "warmup_steps": 6},
        {"lr": 0.5, "momentum": 0.95, "r": 1.0, "weight_lr_power": 0.0, "warmup_steps": 40},
    ],
    "adamw": [
        {},
        {"lr": 0.01, "betas": (0.8, 0.95), "weight_decay": 0.1, "warmup_steps": 6},
        {"lr": 0.005, "betas": (0.95, 0.99), "eps": 1e-6, "r": 0.5, "weight_lr_power": 1.0, "warmup_steps": 40},
    ],
}
# The second parameter group: other options and its own warmup.
SECOND = {"sgd": {"lr": 0.05, "momentum": 0.7, "warmup_steps": 3, "weight_decay": 0.01},
          "adamw": {"lr": 0.002, "betas": (0.9, 0.98), "warmup_steps": 3, "weight_decay": 0.01}}


def _cases() -> list[Any]:
    return [pytest.param(kind, index, foreach, id=f"{kind}-{index}-foreach={foreach}")
            for kind, configs in CONFIGS.items() for index in range(len(configs)) for foreach in (False, True)]


def _params(seed: int = 0) -> list[Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, dtype=torch.float64, generator=generator).requires_grad_() for shape in SHAPES]


def _clone(params: list[Tensor]) -> list[Tensor]:
    return [p.detach().clone().requires_grad_() for p in params]


def _groups(kind: str, params: list[Tensor]) -> list[dict[str, Any]]:
    return [{"params": params[:2]}, {"params": params[2:], **SECOND[kind]}]


def _build(cls: type, kind: str, params: list[Tensor], options: dict[str, Any]) -> torch.optim.Optimizer:
    optimizer = cls(_groups(kind, params), **options)
    if cls.__module__.startswith("schedulefree"):
        optimizer.train()  # the reference starts in eval mode; optimkit's classes in train mode
    return optimizer


def _grads(step: int, params: list[Tensor]) -> list[Tensor | None]:
    """The gradients of ``step``; the second parameter sits out every third step (from the first,
    so its state is created late) and the last one steps 4 and 5 (a gap in mid-run)."""
    generator = torch.Generator().manual_seed(1000 + step)
    grads: list[Tensor | None] = [torch.randn(p.shape, dtype=p.dtype, generator=generator) for p in params]
    if step % 3 == 0:
        grads[1] = None
    if step in (4, 5):
        grads[3] = None
    return grads


def _step(optimizers: list[torch.optim.Optimizer], param_lists: list[list[Tensor]], step: int) -> None:
    for params in param_lists:
        for p, g in zip(params, _grads(step, params)):
            p.grad = None if g is None else g.clone()
    for optimizer in optimizers:
        optimizer.step()


def _states(optimizer: torch.optim.Optimizer) -> dict[int, dict[str, Any]]:
    # The reference's train()/eval() leave an empty state behind for a parameter never stepped
    # (it indexes the defaultdict); optimkit's do not. Only real states are compared.
    return {index: state for index, state in optimizer.state_dict()["state"].items() if state}


def _assert_same(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, ours_params: list[Tensor],
                 theirs_params: list[Tensor]) -> None:
    for p, q in zip(ours_params, theirs_params):
        torch.testing.assert_close(p.detach(), q.detach(), **EXACT)
    ours_states, theirs_states = _states(ours), _states(theirs)
    assert ours_states.keys() == theirs_states.keys()
    for index, expected in theirs_states.items():
        assert list(ours_states[index]) == list(expected)  # z (, exp_avg_sq), in this order
        for key, value in expected.items():
            torch.testing.assert_close(ours_states[index][key], value, **EXACT)
    for group, expected in zip(ours.state_dict()["param_groups"], theirs.state_dict()["param_groups"]):
        # Every key of the reference's groups, the counters included (weight_sum within EXACT).
        assert set(group) == set(expected) and list(group) == list(expected)
        for key, value in expected.items():
            if key == "foreach":
                continue  # (the reference's default is True, optimkit's torch's None: same numbers)
            if isinstance(value, float):
                assert group[key] == pytest.approx(value, rel=EXACT["rtol"], abs=EXACT["atol"]), key
            else:
                assert group[key] == value, key


# --------------------------------------------------------------------- trajectories and modes
@pytest.mark.parametrize(("kind", "index", "foreach"), _cases())
def test_trajectory_and_modes_match_the_reference(kind: str, index: int, foreach: bool) -> None:
    """Same parameters (y in training, x in evaluation), states and group counters after every
    step, with eval()/train() switches in mid-run (and a redundant call of each)."""
    ours_cls, theirs_cls = PAIRS[kind]
    options = {**CONFIGS[kind][index], "foreach": foreach}
    ours_params = _params()
    theirs_params = _clone(ours_params)
    ours = _build(ours_cls, kind, ours_params, options)
    theirs = _build(theirs_cls, kind, theirs_params, options)
    for step in range(STEPS):
        _step([ours, theirs], [ours_params, theirs_params], step)
        _assert_same(ours, theirs, ours_params, theirs_params)
        if step % 7 == 2:
            for optimizer in (ours, theirs):
                optimizer.eval()
                optimizer.eval()  # a second call changes nothing
            _assert_same(ours, theirs, ours_params, theirs_params)
            assert not ours.param_groups[0]["train_mode"]
            for optimizer in (ours, theirs):
                optimizer.train()
                optimizer.train()
            _assert_same(ours, theirs, ours_params, theirs_params)
    assert ours.param_groups[0]["k"] == STEPS
    assert all(not torch.equal(p, q) for p, q in zip(ours_params, _params()))


def test_x_is_the_average_of_the_z() -> None:
    """With r = 0 and weight_lr_power = 0 the weights are equal: eval() gives the plain mean of
    z_1 .. z_t, and train() gives back y = (1 - beta) z + beta x."""
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = SGDScheduleFree([w], lr=0.1, momentum=0.6, weight_lr_power=0.0)
    zs = []
    for step in range(6):
        w.grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) * (step + 1)
        opt.step()
        zs.append(opt.state[w]["z"].clone())
    y = w.detach().clone()
    opt.eval()
    x = w.detach().clone()
    torch.testing.assert_close(x, torch.stack(zs).mean(0), **EXACT)
    opt.train()
    torch.testing.assert_close(w.detach(), y, **EXACT)
    torch.testing.assert_close(y, 0.4 * zs[-1] + 0.6 * x, **EXACT)


def test_parameters_without_state_do_not_move_and_get_none() -> None:
    stepped, idle = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = AdamWScheduleFree([stepped, idle], lr=0.1)
    stepped.grad = torch.ones(2)
    opt.step()
    opt.eval()
    opt.train()
    assert torch.equal(idle.detach(), torch.ones(2)) and idle not in opt.state
    assert list(opt.state_dict()["state"]) == [0]


def test_averaging_counters_follow_the_formula() -> None:
    step = averaging_step(lr=0.1, k=1, warmup_steps=4, r=1.0, weight_lr_power=2.0, weight_sum=0.5, lr_max=0.03)
    # t = 2: lr 0.1 * 2/4; weight 2^1 * 0.05^2
    assert step.lr == pytest.approx(0.05) and step.lr_max == pytest.approx(0.05)
    assert step.weight_sum == pytest.approx(0.5 + 2 * 0.05**2)
    assert step.ckp1 == pytest.approx(2 * 0.05**2 / (0.5 + 2 * 0.05**2))
    assert averaging_step(lr=0.0, k=0, warmup_steps=0, r=0.0, weight_lr_power=2.0, weight_sum=0.0, lr_max=-1.0).ckp1 == 0


def test_tensor_lr_steps_as_the_float() -> None:
    a, b = _params(), _params()
    float_lr = SGDScheduleFree(a, lr=0.1, warmup_steps=3)
    tensor_lr = SGDScheduleFree(b, lr=torch.tensor(0.1, dtype=torch.float64), warmup_steps=3)
    for step in range(5):
        _step([float_lr, tensor_lr], [a, b], step)
    assert all(torch.equal(p, q) for p, q in zip(a, b))


# ------------------------------------------------------------------------------------ resuming
@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("saved_in", ["train", "eval"])
def test_resume_from_state_dict_is_exact(kind: str, saved_in: str) -> None:
    """10 steps, a checkpoint (of the model and the optimizer; in eval mode as the reference
    recommends, or in train mode), then 10 more in a new optimizer: bitwise the 20 straight steps."""
    cls = PAIRS[kind][0]
    options = CONFIGS[kind][1]
    straight_params = _params()
    straight = cls(_groups(kind, straight_params), **options)
    params = _clone(straight_params)
    first = cls(_groups(kind, params), **options)
    for step in range(20):
        _step([straight], [straight_params], step)
    for step in range(10):
        _step([first], [params], step)
    if saved_in == "eval":
        first.eval()
    saved = copy.deepcopy(first.state_dict())
    weights = _clone(params)
    resumed_params = _clone(_params(seed=5))  # other weights: the checkpoint sets them
    resumed = cls(_groups(kind, resumed_params), **options)
    with torch.no_grad():
        for p, w in zip(resumed_params, weights):
            p.copy_(w)
    resumed.load_state_dict(saved)
    assert resumed.state_dict()["param_groups"] == saved["param_groups"]
    if saved_in == "eval":
        with pytest.raises(ValueError, match="eval mode"):
            resumed.step()
        resumed.train()
    for step in range(10, 20):
        _step([resumed], [resumed_params], step)
    assert all(torch.equal(p, q) for p, q in zip(resumed_params, straight_params))


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("direction", ["reference_to_optimkit", "optimkit_to_reference"])
def test_state_dicts_cross_load_with_the_reference(kind: str, direction: str) -> None:
    ours_cls, theirs_cls = PAIRS[kind]
    source_cls, target_cls = (theirs_cls, ours_cls) if direction == "reference_to_optimkit" else (ours_cls, theirs_cls)
    options = CONFIGS[kind][1]
    params = _params()
    straight_params = _clone(params)
    source = _build(source_cls, kind, params, options)
    straight = _build(source_cls, kind, straight_params, options)
    for step in range(20):
        _step([straight], [straight_params], step)
    for step in range(10):
        _step([source], [params], step)
    source.eval()
    target = target_cls(_groups(kind, params), **options)
    target.load_state_dict(copy.deepcopy(source.state_dict()))
    target.train()
    for step in range(10, 20):
        _step([target], [params], step)
    for p, q in zip(params, straight_params):
        torch.testing.assert_close(p, q, **EXACT)


# -------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(("kind", "kwargs", "error", "match"), [
    ("sgd", {"lr": -0.1}, ValueError, "Invalid learning rate: -0.1"),
    ("sgd", {"momentum": 0.0}, ValueError, "Momentum must be between 0 and 1 exclusive"),
    ("sgd", {"weight_decay": -1.0}, ValueError, "Invalid weight_decay value"),
    ("sgd", {"warmup_steps": -3}, ValueError, "Invalid warmup_steps value: -3"),
    ("sgd", {"lr": "fast"}, TypeError, "SGDScheduleFree: lr must be a number or a tensor, got 'fast'"),
    ("adamw", {"lr": -1.0}, ValueError, "Invalid learning rate: -1.0"),
    ("adamw", {"betas": (0.0, 0.999)}, ValueError, "Invalid beta parameter at index 0: 0.0"),
    ("adamw", {"eps": -1.0}, ValueError, "Invalid epsilon value"),
    ("adamw", {"r": -0.5}, ValueError, "Invalid r value: -0.5"),
    ("adamw", {"weight_lr_power": -1.0}, ValueError, "Invalid weight_lr_power value: -1.0"),
    ("adamw", {"foreach": "yes"}, TypeError, "foreach must be a bool or None"),
])
def test_bad_arguments_are_refused_by_name(kind: str, kwargs: dict[str, Any], error: type[Exception],
                                           match: str) -> None:
    with pytest.raises(error, match=match):
        PAIRS[kind][0](_params(), **kwargs)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_step_in_eval_mode_raises_like_the_reference(kind: str) -> None:
    for cls in PAIRS[kind]:
        params = _params()
        opt = cls(params)
        opt.train()
        opt.eval()
        for p in params:
            p.grad = torch.ones_like(p)
        with pytest.raises(Exception, match="train"):  # noqa: B017 - the reference raises a bare Exception
            opt.step()
        opt.train()
        opt.step()
    with pytest.raises(ValueError, match=r"eval mode \(train_mode is False in parameter group 0\)"):
        opt = PAIRS[kind][0](_params())
        opt.eval()
        opt.step()


def test_a_loaded_group_that_cannot_step_is_named_before_anything_moves() -> None:
    params = _params()
    opt = AdamWScheduleFree(_groups("adamw", params))
    _step([opt], [params], 1)
    saved = opt.state_dict()
    saved["param_groups"][1]["k"] = -4
    opt.load_state_dict(saved)
    before = _clone(params)
    with pytest.raises(ValueError, match="k=-4 in a parameter group; k must be a count of steps >= 0"):
        _step([opt], [params], 2)
    assert all(torch.equal(p, q) for p, q in zip(params, before))


# ------------------------------------------------------------------------ configs and the demo
def _model_params() -> list[torch.nn.Parameter]:
    return list(torch.nn.Linear(3, 2).parameters())


def test_torch_style_config_builds_it_by_class_or_registry_name() -> None:
    for name in ("AdamWScheduleFree", "schedulefreeadamw", "adamw_schedule_free"):
        opt, scheduler = config.load({"optimizer": {"name": name, "lr": "1e-2", "warmup_steps": 5}}, _model_params())
        assert type(opt) is AdamWScheduleFree and scheduler is None
        assert opt.defaults["lr"] == 0.01 and opt.defaults["warmup_steps"] == 5
    opt, _ = config.load({"optimizer": {"name": "SGDScheduleFree", "lr": 2.0, "momentum": 0.8}}, _model_params())
    assert type(opt) is SGDScheduleFree and opt.defaults["momentum"] == 0.8
    with pytest.raises(ValueError, match="Invalid warmup_steps value: -1"):
        config.load({"optimizer": {"name": "SGDScheduleFree", "warmup_steps": -1}}, _model_params())


def test_cerebras_style_config_builds_it_by_optimizer_type() -> None:
    """Cerebras ships no schedule-free optimizer: ``optimizer_type`` finds optimkit's class, with
    Cerebras' ``learning_rate`` (a number or a schedule) and ``optim_params``."""
    opt, scheduler = config.load({"optimizer": {"optimizer_type": "AdamWScheduleFree", "learning_rate": 0.01,
                                                "weight_decay": 0.01, "optim_params": {"warmup_steps": 5}}},
                                 _model_params())
    assert type(opt) is AdamWScheduleFree
    assert (opt.defaults["lr"], opt.defaults["weight_decay"], opt.defaults["warmup_steps"]) == (0.01, 0.01, 5)
    schedule = [{"scheduler": "Linear", "initial_learning_rate": 0.02, "end_learning_rate": 0.0, "total_iters": 4}]
    params = _model_params()
    opt, scheduler = config.load({"optimizer": {"optimizer_type": "SGDScheduleFree", "learning_rate": schedule}},
                                 params)
    assert type(opt) is SGDScheduleFree and opt.param_groups[0]["lr"] == 0.02
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    scheduler.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.015) and opt.param_groups[0]["scheduled_lr"] == 0.02
    # Names Cerebras has stay Cerebras' classes; unknown names list Cerebras' names only.
    opt, _ = config.load({"optimizer": {"optimizer_type": "AdamW", "learning_rate": 0.01}}, _model_params())
    assert type(opt).__module__ == "optimkit.cerebras.optim.optimizers"
    with pytest.raises(ValueError, match=r"unknown optimizer_type 'adamwschedulefre' \(valid: adadelta, .*, sgd\)"):
        config.load({"optimizer": {"optimizer_type": "adamwschedulefre"}}, _model_params())


def test_demo_switches_modes_and_records_the_warmed_up_lr() -> None:
    calls: list[str] = []

    class Recording(AdamWScheduleFree):
        def train(self) -> None:
            calls.append("train")
            super().train()

        def eval(self) -> None:
            calls.append("eval")
            super().eval()

    built: list[Recording] = []

    def build(params: Any) -> tuple[torch.optim.Optimizer, None]:
        built.append(Recording(params, lr=0.01, warmup_steps=10))
        return built[0], None

    data = demo.load_data(seed=0)
    run = demo.train("sf", build, data, demo.TrainSettings(epochs=1, batch_size=64), progress=False)
    assert calls == ["train", "eval", "train"]
    assert built[0].param_groups[0]["train_mode"]
    assert run.lrs[:3] == pytest.approx([0.001, 0.002, 0.003]) and run.lrs[-1] == 0.01
    assert run.test_accuracy > 0.5


# ------------------------------------------------------------------ batch norm (docs/schedule_free.md)
BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)


def recompute_batch_norm_statistics(model: torch.nn.Module, optimizer: Any,
                                    batches: list[tuple[Tensor, Tensor]]) -> None:
    """The recipe of docs/schedule_free.md: running statistics averaged over ``batches`` at x."""
    optimizer.eval()  # the parameters hold x
    norms = [m for m in model.modules() if isinstance(m, BATCH_NORMS)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches below, not a moving one
    model.train()
    with torch.no_grad():
        for inputs, _ in batches:
            model(inputs)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def test_batch_norm_statistics_recomputed_at_x() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 1))
    optimizer = SGDScheduleFree(model.parameters(), lr=0.5)
    batches = [(torch.randn(16, 4), torch.randn(16, 1)) for _ in range(6)]
    optimizer.train()
    model.train()
    for inputs, targets in batches * 3:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()
    collected_at_y = model[1].running_mean.clone()
    recompute_batch_norm_statistics(model, optimizer, batches)
    with torch.no_grad():  # the mean of the batch norm's input over the batches, at x
        expected = torch.stack([model[0](inputs).mean(0) for inputs, _ in batches]).mean(0)
    torch.testing.assert_close(model[1].running_mean, expected)
    assert not torch.allclose(collected_at_y, expected, atol=1e-3)
    assert not optimizer.param_groups[0]["train_mode"] and not model.training
