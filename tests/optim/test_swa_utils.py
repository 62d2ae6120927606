"""optimkit.optim.swa_utils against torch.optim.swa_utils (the oracle), side by side.

The same float64 BatchNorm network is trained twice on the same batches: once with torch's SGD,
AveragedModel, SWALR and update_bn, once with ours. Averaged weights, buffers, ``n_averaged`` and
the learning-rate sequence must agree.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import optimkit.optim as optim
from optimkit.optim import swa_utils
from optimkit.registry import get_scheduler

AvgKwargs = Callable[[ModuleType], dict[str, Any]]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The tensors here are tiny: a second intra-op thread only adds contention on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
    ).double()


def _batches(n: int = 3, seed: int = 7) -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(6, 3, dtype=torch.float64, generator=g), torch.randn(6, 2, dtype=torch.float64, generator=g))
        for _ in range(n)
    ]


def _run(
    ns: ModuleType,
    optim_ns: ModuleType,
    *,
    avg_kwargs: AvgKwargs,
    swalr_kwargs: dict[str, Any],
    epochs: int = 9,
    swa_start: int = 3,
    tensor_lr: bool = False,
) -> tuple[torch.nn.Module, list[list[float]]]:
    """Train with SGD, average from ``swa_start`` on, step SWALR after each averaged epoch and
    refresh the BatchNorm statistics at the end; returns the averaged model and the lr trace."""
    net = _net()
    batches = _batches()
    lr: float | Tensor = torch.tensor(0.1, dtype=torch.float64) if tensor_lr else 0.1
    groups = [
        {"params": list(net[0].parameters()) + list(net[1].parameters())},
        {"params": list(net[3].parameters()), "lr": 0.05 if not tensor_lr else torch.tensor(0.05)},
    ]
    opt = optim_ns.SGD(groups, lr=lr, momentum=0.9, weight_decay=1e-3, foreach=False)
    averaged = ns.AveragedModel(net, **avg_kwargs(ns))
    scheduler = ns.SWALR(opt, **swalr_kwargs)
    lrs = [[float(g["lr"]) for g in opt.param_groups]]
    for epoch in range(epochs):
        for x, y in batches:
            opt.zero_grad()
            F.mse_loss(net(x), y).backward()
            opt.step()
        if epoch >= swa_start:
            averaged.update_parameters(net)
            scheduler.step()
        lrs.append([float(v) for v in scheduler.get_last_lr()])
    ns.update_bn(batches, averaged)
    return averaged, lrs


def _assert_same_model(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for key in theirs_sd:
        a, b = ours_sd[key], theirs_sd[key]
        assert a.dtype == b.dtype and a.device == b.device, key
        # The arithmetic is ordered like torch's, so float64 results agree bit for bit (far inside
        # the 1e-10 the project asks for); a mismatch shows the largest difference.
        if not torch.equal(a, b):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=key)


def _ema_multi(ns: ModuleType) -> dict[str, Any]:
    return {"multi_avg_fn": ns.get_ema_multi_avg_fn(0.8), "use_buffers": True}


def _ema_single(ns: ModuleType) -> dict[str, Any]:
    return {"avg_fn": ns.get_ema_avg_fn(0.8)}


def _ema_single_buffers(ns: ModuleType) -> dict[str, Any]:
    return {"avg_fn": ns.get_ema_avg_fn(0.7), "use_buffers": True}


def _swa_default(ns: ModuleType) -> dict[str, Any]:
    return {}


def _swa_single(ns: ModuleType) -> dict[str, Any]:
    return {"avg_fn": ns.get_swa_avg_fn()}


def _swa_multi(ns: ModuleType) -> dict[str, Any]:
    return {"multi_avg_fn": ns.get_swa_multi_avg_fn()}


def _custom(ns: ModuleType) -> dict[str, Any]:
    return {"avg_fn": lambda avg, cur, n: 0.25 * avg + 0.75 * cur + 0.0 * n}


_COS: dict[str, Any] = {"swa_lr": 0.02, "anneal_epochs": 3}
_LINEAR_PER_GROUP: dict[str, Any] = {"swa_lr": [0.02, 0.3], "anneal_epochs": 4, "anneal_strategy": "linear"}
_NO_ANNEAL: dict[str, Any] = {"swa_lr": 0.01, "anneal_epochs": 0}


@pytest.mark.parametrize(
    ("avg_kwargs", "swalr_kwargs"),
    [
        pytest.param(_swa_default, _COS, id="swa-default-cos"),
        pytest.param(_swa_default, _LINEAR_PER_GROUP, id="swa-default-linear-per-group"),
        pytest.param(_swa_single, _NO_ANNEAL, id="swa-avg_fn-no-anneal"),
        pytest.param(_swa_multi, _LINEAR_PER_GROUP, id="swa-multi-linear-per-group"),
        pytest.param(_ema_multi, _COS, id="ema-multi-buffers-cos"),
        pytest.param(_ema_single, _NO_ANNEAL, id="ema-avg_fn-no-anneal"),
        pytest.param(_ema_single_buffers, _LINEAR_PER_GROUP, id="ema-avg_fn-buffers-linear"),
        pytest.param(_custom, _COS, id="custom-cos"),
    ],
)
def test_training_pipeline_matches_torch(avg_kwargs: AvgKwargs, swalr_kwargs: dict[str, Any]) -> None:
    ours, ours_lrs = _run(swa_utils, optim, avg_kwargs=avg_kwargs, swalr_kwargs=swalr_kwargs)
    theirs, theirs_lrs = _run(torch.optim.swa_utils, torch.optim, avg_kwargs=avg_kwargs, swalr_kwargs=swalr_kwargs)
    assert ours_lrs == theirs_lrs
    assert int(ours.n_averaged) == int(theirs.n_averaged) == 6
    _assert_same_model(ours, theirs)
    x = _batches(1, seed=99)[0][0]
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-10, atol=1e-12)


def test_training_pipeline_with_tensor_lrs_matches_torch() -> None:
    kwargs: dict[str, Any] = {"swa_lr": 0.02, "anneal_epochs": 5, "anneal_strategy": "linear"}
    ours, ours_lrs = _run(swa_utils, optim, avg_kwargs=_swa_default, swalr_kwargs=kwargs, tensor_lr=True)
    theirs, theirs_lrs = _run(torch.optim.swa_utils, torch.optim, avg_kwargs=_swa_default, swalr_kwargs=kwargs,
                              tensor_lr=True)
    assert ours_lrs == theirs_lrs
    _assert_same_model(ours, theirs)


def test_swa_default_is_the_arithmetic_mean() -> None:
    """Independent reference: with the default function the average is the plain mean."""
    net = torch.nn.Linear(4, 3).double()
    averaged = swa_utils.AveragedModel(net)
    snapshots = []
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, dtype=p.dtype, generator=g))
        snapshots.append([p.detach().clone() for p in net.parameters()])
        averaged.update_parameters(net)
    for i, p in enumerate(averaged.module.parameters()):
        torch.testing.assert_close(p.detach(), torch.stack([s[i] for s in snapshots]).mean(0), rtol=1e-12, atol=1e-14)
    assert averaged.n_averaged.dtype == torch.long and int(averaged.n_averaged) == 5


def test_ema_is_the_geometric_average() -> None:
    """Independent reference: EMA folds later models with weight 1 - decay."""
    decay = 0.6
    net = torch.nn.Linear(2, 2, bias=False).double()
    for kwargs in ({"avg_fn": swa_utils.get_ema_avg_fn(decay)}, {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(decay)}):
        averaged = swa_utils.AveragedModel(net, **kwargs)
        expected = None
        for value in (1.0, 5.0, -2.0, 3.0):
            with torch.no_grad():
                net.weight.fill_(value)
            averaged.update_parameters(net)
            expected = value if expected is None else decay * expected + (1 - decay) * value
        assert math.isclose(float(averaged.module.weight[0, 0].detach()), expected, rel_tol=1e-12)


def test_buffers_follow_the_source_without_use_buffers() -> None:
    net = _net()
    averaged = swa_utils.AveragedModel(net)
    net.train()
    for x, _ in _batches():
        net(x)
        averaged.update_parameters(net)
        assert torch.equal(averaged.module[1].running_mean, net[1].running_mean)
        assert torch.equal(averaged.module[1].num_batches_tracked, net[1].num_batches_tracked)


def test_swa_multi_avg_fn_on_integer_buffers_matches_torch_cpu_default() -> None:
    """torch's get_swa_multi_avg_fn raises on integer tensors (RuntimeError from addcdiv); ours
    gives ``num_batches_tracked`` the value torch's per-tensor CPU default gives it, and floating
    point buckets stay torch's multi function."""
    with pytest.raises(RuntimeError):
        torch.optim.swa_utils.get_swa_multi_avg_fn()([torch.tensor([1])], [torch.tensor([4])], torch.tensor(2))
    torch_multi, torch_single = torch.optim.swa_utils.get_swa_multi_avg_fn(), torch.optim.swa_utils.get_swa_avg_fn()

    def reference(averaged: list[Tensor], current: list[Tensor], n: Tensor) -> None:
        if averaged[0].is_floating_point():
            torch_multi(averaged, current, n)
        else:  # what torch's default does on the CPU, tensor by tensor
            for a, c in zip(averaged, current):
                a.copy_(torch_single(a, c, n))

    net = _net()
    ours = swa_utils.AveragedModel(net, multi_avg_fn=swa_utils.get_swa_multi_avg_fn(), use_buffers=True)
    theirs = torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=reference, use_buffers=True)
    net.train()
    for x, _ in _batches(4) * 2:
        net(x)
        ours.update_parameters(net)
        theirs.update_parameters(net)
    _assert_same_model(ours, theirs)


def test_multi_avg_fn_receives_buckets_by_dtype_and_the_count() -> None:
    calls: list[tuple[list[torch.dtype], int]] = []

    def spy(averaged: list[Tensor], current: list[Tensor], n: Tensor | int) -> None:
        calls.append(([str(t.dtype) for t in averaged], int(n)))
        assert all(a.dtype == c.dtype for a, c in zip(averaged, current))

    net = torch.nn.Sequential(torch.nn.Linear(2, 2).double(), torch.nn.BatchNorm1d(2).float())
    averaged = swa_utils.AveragedModel(net, multi_avg_fn=spy, use_buffers=True)
    averaged.update_parameters(net)
    assert calls == []  # the first call copies
    averaged.update_parameters(net)
    assert sorted(calls) == sorted([(["torch.float64"] * 2, 1), (["torch.float32"] * 4, 1), (["torch.int64"], 1)])


def test_averaged_model_device_and_forward() -> None:
    net = torch.nn.Linear(2, 1)
    averaged = swa_utils.AveragedModel(net, device="cpu")
    assert averaged.n_averaged.device.type == "cpu" and averaged.module is not net
    x = torch.randn(3, 2)
    torch.testing.assert_close(averaged(x), net(x))


@pytest.mark.parametrize("direction", ["torch->ours", "ours->torch"])
def test_averaged_model_state_dict_cross_loads(direction: str) -> None:
    net = _net()
    source_ns, target_ns = (torch.optim.swa_utils, swa_utils) if direction == "torch->ours" else (swa_utils, torch.optim.swa_utils)
    source = source_ns.AveragedModel(net, use_buffers=True)
    net.train()
    for x, _ in _batches():
        net(x)
        source.update_parameters(net)
    target = target_ns.AveragedModel(_net(seed=1), use_buffers=True)
    target.load_state_dict(source.state_dict())
    _assert_same_model(target, source)
    # Both continue identically after the load.
    net(_batches(1, seed=5)[0][0])
    source.update_parameters(net)
    target.update_parameters(net)
    _assert_same_model(target, source)


def test_state_dict_layout_is_torchs() -> None:
    net = _net()
    ours = swa_utils.AveragedModel(net)
    theirs = torch.optim.swa_utils.AveragedModel(net)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert list(ours.state_dict())[0] == "n_averaged"


def test_update_bn_matches_torch_and_restores_modes() -> None:
    ours, theirs = _net(), _net()
    for net in (ours, theirs):
        net[1].momentum = 0.3
        net.eval()
    batches = _batches(4)
    swa_utils.update_bn(batches, ours)
    torch.optim.swa_utils.update_bn(batches, theirs)
    _assert_same_model(ours, theirs)
    assert not ours.training and ours[1].momentum == 0.3
    # Independent reference: cumulative mean of the batch means, unbiased variances averaged.
    hidden = [ours[0](x).detach() for x, _ in batches]
    torch.testing.assert_close(ours[1].running_mean, torch.stack([h.mean(0) for h in hidden]).mean(0))
    torch.testing.assert_close(ours[1].running_var, torch.stack([h.var(0) for h in hidden]).mean(0))
    assert int(ours[1].num_batches_tracked) == len(batches)


def test_update_bn_accepts_bare_tensors_and_device() -> None:
    ours, theirs = _net(), _net()
    inputs = [x for x, _ in _batches()]
    swa_utils.update_bn(inputs, ours, device="cpu")
    torch.optim.swa_utils.update_bn(inputs, theirs, device="cpu")
    _assert_same_model(ours, theirs)
    assert ours.training


def test_update_bn_without_batchnorm_does_not_read_the_loader() -> None:
    def loader() -> Iterator[Tensor]:
        raise AssertionError("loader was read")
        yield torch.zeros(1)  # pragma: no cover

    swa_utils.update_bn(loader(), torch.nn.Linear(2, 2))


def _same_error(ours: Callable[[], Any], theirs: Callable[[], Any], exc: type[BaseException]) -> None:
    with pytest.raises(exc) as ours_info:
        ours()
    with pytest.raises(exc) as theirs_info:
        theirs()
    assert str(ours_info.value) == str(theirs_info.value)


def test_errors_match_torch() -> None:
    net = torch.nn.Linear(2, 2)
    for ns_fn in ("get_ema_avg_fn", "get_ema_multi_avg_fn"):
        for decay in (-0.1, 1.5):
            _same_error(lambda: getattr(swa_utils, ns_fn)(decay), lambda: getattr(torch.optim.swa_utils, ns_fn)(decay),
                        ValueError)
    _same_error(
        lambda: swa_utils.AveragedModel(net, avg_fn=swa_utils.get_swa_avg_fn(), multi_avg_fn=swa_utils.get_swa_multi_avg_fn()),
        lambda: torch.optim.swa_utils.AveragedModel(net, avg_fn=swa_utils.get_swa_avg_fn(),
                                                    multi_avg_fn=swa_utils.get_swa_multi_avg_fn()),
        AssertionError,
    )

    def opt(ns: ModuleType) -> torch.optim.Optimizer:
        a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
        return ns.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)

    for kwargs, exc in [
        ({"swa_lr": [0.1, 0.2, 0.3]}, ValueError),
        ({"swa_lr": 0.1, "anneal_strategy": "exp"}, ValueError),
        ({"swa_lr": 0.1, "anneal_epochs": -1}, ValueError),
        ({"swa_lr": 0.1, "anneal_epochs": 2.0}, ValueError),
    ]:
        _same_error(lambda: swa_utils.SWALR(opt(optim), **kwargs),
                    lambda: torch.optim.swa_utils.SWALR(opt(torch.optim), **kwargs), exc)
    # No closed form (the anneal starts from whatever lr the group has): resuming by a step count
    # alone raises torch's KeyError.
    _same_error(lambda: swa_utils.SWALR(opt(optim), swa_lr=0.1, last_epoch=3),
                lambda: torch.optim.swa_utils.SWALR(opt(torch.optim), swa_lr=0.1, last_epoch=3), KeyError)
    _same_error(lambda: swa_utils.SWALR(object(), swa_lr=0.1),  # type: ignore[arg-type]
                lambda: torch.optim.swa_utils.SWALR(object(), swa_lr=0.1), AttributeError)  # type: ignore[arg-type]


def test_swalr_is_one_of_our_schedulers_and_works_on_torch_optimizers() -> None:
    assert issubclass(swa_utils.SWALR, optim.lr_scheduler.LRScheduler)
    assert issubclass(swa_utils.SWALR, torch.optim.lr_scheduler.LRScheduler)
    assert get_scheduler("SWALR").cls is swa_utils.SWALR
    p = torch.nn.Parameter(torch.zeros(1))
    ours = swa_utils.SWALR(torch.optim.SGD([p], lr=1.0), swa_lr=0.1, anneal_epochs=4)
    theirs = torch.optim.swa_utils.SWALR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                                         swa_lr=0.1, anneal_epochs=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping without optimizer.step() on purpose
        for _ in range(7):
            ours.step()
            theirs.step()
            assert ours.get_last_lr() == theirs.get_last_lr()


def test_swalr_reference_formula() -> None:
    """Independent reference: from lr0 the lr reaches swa_lr after anneal_epochs steps along
    (1 - cos(pi t)) / 2 or t."""
    for strategy, shape in (("cos", lambda t: (1 - math.cos(math.pi * t)) / 2), ("linear", lambda t: t)):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = optim.SGD([p], lr=0.5)
        scheduler = swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=4, anneal_strategy=strategy)
        for step in range(1, 8):
            opt.step()
            scheduler.step()
            alpha = shape(min(1.0, step / 4))
            assert math.isclose(scheduler.get_last_lr()[0], 0.05 * alpha + 0.5 * (1 - alpha), rel_tol=1e-12)


def test_swalr_state_dict_cross_loads_and_drops_the_function() -> None:
    def make(ns: ModuleType, optim_ns: ModuleType) -> Any:
        return ns.SWALR(optim_ns.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), swa_lr=0.1,
                        anneal_epochs=5, anneal_strategy="linear")

    ours, theirs = make(swa_utils, optim), make(torch.optim.swa_utils, torch.optim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):
            ours.optimizer.step(), ours.step()
            theirs.optimizer.step(), theirs.step()
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert "anneal_func" not in ours_sd and ours_sd["_anneal_strategy"] == "linear"
    assert set(ours_sd) == set(theirs_sd)
    # torch -> ours and ours -> torch, each then continues like the source.
    fresh_ours, fresh_theirs = make(swa_utils, optim), make(torch.optim.swa_utils, torch.optim)
    fresh_ours.load_state_dict(theirs_sd)
    fresh_theirs.load_state_dict(ours_sd)
    assert fresh_ours.anneal_func(0.5) == fresh_theirs.anneal_func(0.5) == 0.5
    for sched in (fresh_ours, fresh_theirs, ours, theirs):
        sched.optimizer.param_groups[0]["lr"] = ours.get_last_lr()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = []
        for sched in (fresh_ours, fresh_theirs, ours, theirs):
            sched.step()
            trace.append(sched.get_last_lr())
    assert trace[0] == trace[1] == trace[2] == trace[3]


def test_swalr_after_another_scheduler_and_resumed_matches_torch() -> None:
    """torch's usage: a cosine schedule until ``swa_start``, then SWALR anneals from the lr the
    cosine left; then a new SWALR resumes with ``last_epoch >= 0`` on groups holding initial_lr."""

    def trace(ns: ModuleType, optim_ns: ModuleType) -> list[list[float]]:
        opt = optim_ns.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]},
                            {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.3}], lr=0.9)
        cosine = optim_ns.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
        swa = ns.SWALR(opt, swa_lr=[0.05, 0.01], anneal_epochs=5)
        lrs = []
        for epoch in range(15):
            opt.step()
            (swa if epoch >= 6 else cosine).step()
            lrs.append([float(g["lr"]) for g in opt.param_groups])
        resumed = ns.SWALR(opt, swa_lr=0.2, anneal_epochs=3, anneal_strategy="linear", last_epoch=15)
        for _ in range(5):
            opt.step()
            resumed.step()
            lrs.append(resumed.get_last_lr())
        return lrs

    assert trace(swa_utils, optim) == trace(torch.optim.swa_utils, torch.optim)


def test_swalr_get_lr_outside_step_warns() -> None:
    scheduler = swa_utils.SWALR(optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), swa_lr=0.1)
    with pytest.warns(UserWarning, match="get_last_lr"):
        scheduler.get_lr()


def test_signatures_match_torch() -> None:
    names = torch.optim.swa_utils.__all__
    assert sorted(swa_utils.__all__) == sorted(names)
    for name in names:
        ours, theirs = getattr(swa_utils, name), getattr(torch.optim.swa_utils, name)
        ours_sig, theirs_sig = inspect.signature(ours), inspect.signature(theirs)
        assert list(ours_sig.parameters) == list(theirs_sig.parameters), name
        for key, parameter in theirs_sig.parameters.items():
            assert ours_sig.parameters[key].kind == parameter.kind, (name, key)
            assert ours_sig.parameters[key].default == parameter.default, (name, key)
    for method in ("update_parameters", "forward"):
        assert list(inspect.signature(getattr(swa_utils.AveragedModel, method)).parameters) == list(
            inspect.signature(getattr(torch.optim.swa_utils.AveragedModel, method)).parameters
        )


def test_exported_from_optim() -> None:
    assert "swa_utils" in optim.__all__ and optim.swa_utils is swa_utils


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (foreach default path)")
def test_cuda_default_path_matches_torch() -> None:
    net = _net().cuda()
    ours = swa_utils.AveragedModel(net)
    theirs = torch.optim.swa_utils.AveragedModel(net)
    net.train()
    for x, _ in _batches(4):
        net(x.cuda())
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(0.9)
        ours.update_parameters(net)
        theirs.update_parameters(net)
    _assert_same_model(ours, theirs)
