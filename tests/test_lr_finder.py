"""The learning-rate range test: suggestions on problems whose stable learning rates are known,
exact restoration of the model and optimizer (also after an exception), and the plot."""

from __future__ import annotations

import copy
import math
import re

import pytest
import torch

from optimkit.lr_finder import (
    NoSuggestion,
    RangeTestResult,
    _longest_descent,
    default_smoothing,
    range_test,
    smooth_losses,
    sweep_schedule,
)
from optimkit.optim import SGD, Adam


def _regression(n: int = 512, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Least squares ``mean((X w - y)^2)``; returns X, y and the largest Hessian eigenvalue."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * scales
    y = x @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.01 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    hessian = 2 * x.T @ x / n
    return x, y, float(torch.linalg.eigvalsh(hessian).max())


def _model(d: int = 8) -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Linear(d, 1, bias=False).double()


@pytest.mark.parametrize("batch", [None, 64], ids=["full-batch", "minibatch"])
def test_suggestion_is_inside_the_stable_range(batch: int | None) -> None:
    # Gradient descent on a quadratic converges iff lr < 2 / lambda_max; below ~0.01 / lambda_max it
    # barely moves within a sweep. The steepest descent must fall between the two.
    x, y, top = _regression()
    data = [(x, y)] if batch is None else [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)]
    model = _model()
    result = range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), data)
    assert result.diverged, "the sweep goes up to lr=10, far past 2 / lambda_max: it must diverge"
    assert max(result.lrs) > 2 / top
    assert 0.01 / top < result.suggestion() < 2 / top


def test_linear_mode_and_its_spacing() -> None:
    x, y, top = _regression()
    model = _model()
    result = range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), [(x, y)],
                        start_lr=0.0, end_lr=2.0, num_iter=60, mode="linear")
    steps = [b - a for a, b in zip(result.lrs, result.lrs[1:])]
    assert all(math.isclose(s, 2.0 / 59) for s in steps)
    # On a linear sweep the loss falls from the first step, so the valley's middle lies high;
    # the steepest descent is the rule for this spacing.
    assert 0 < result.suggestion("steepest") < 2 / top


def test_divergence_stops_the_sweep_early() -> None:
    x, y, top = _regression()
    model = _model()
    result = range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), [(x, y)], diverge=5.0)
    assert result.diverged and len(result.lrs) < 100
    assert result.losses[-1] > 5.0 * min(result.losses[:-1])
    assert all(v <= 5.0 * min(result.losses[: i + 1]) for i, v in enumerate(result.losses[:-1]))


def test_smoothing_is_the_documented_moving_average() -> None:
    x, y, _ = _regression()
    model = _model()
    result = range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), [(x, y)], num_iter=20, smooth=0.3)
    # Bias-corrected: A_i = 0.7 A_(i-1) + 0.3 L_i from A_(-1) = 0, divided by 1 - 0.7^(i+1).
    average, expected = 0.0, []
    for i, raw in enumerate(result.raw_losses):
        average = 0.7 * average + 0.3 * raw
        expected.append(average / (1 - 0.7 ** (i + 1)))
    assert result.losses == pytest.approx(expected, rel=1e-12)
    assert result.smooth == 0.3
    assert result.losses == pytest.approx(smooth_losses(result.raw_losses, 0.3), rel=1e-12)


def test_default_smoothing_follows_the_sweep_length() -> None:
    x, y, _ = _regression()
    for num_iter in (40, 200):
        model = _model()
        result = range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), [(x, y)],
                            num_iter=num_iter, end_lr=1e-3)
        assert result.smooth == default_smoothing(num_iter) == 5 / num_iter
        assert result.losses == pytest.approx(smooth_losses(result.raw_losses, 5 / num_iter), rel=1e-12)


def _state(model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict:
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
        "opt": copy.deepcopy(opt.state_dict()),
        "groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
        "attrs": sorted(vars(opt)),
        "training": model.training,
    }


def _assert_same(a: dict, b: dict) -> None:
    for key in ("params", "buffers"):
        assert all(torch.equal(p, q) and p.dtype == q.dtype for p, q in zip(a[key], b[key])), key
    assert [g is None for g in a["grads"]] == [g is None for g in b["grads"]]
    assert all(g is None or torch.equal(g, h) for g, h in zip(a["grads"], b["grads"]))
    assert a["groups"] == b["groups"]
    assert a["attrs"] == b["attrs"]
    assert a["training"] == b["training"]
    sa, sb = a["opt"]["state"], b["opt"]["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), (i, k)
    assert a["opt"]["param_groups"] == b["opt"]["param_groups"]


def _trained_model_and_adam() -> tuple[torch.nn.Module, torch.optim.Optimizer, list]:
    # A model with buffers (BatchNorm) in eval mode, an optimizer with state and gradients present.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = Adam(model.parameters(), lr=1e-3, amsgrad=True)
    data = [(torch.randn(16, 4), torch.randn(16, 1)) for _ in range(3)]
    for inputs, targets in data:
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(inputs), targets).backward()
        opt.step()
    model.eval()
    return model, opt, data


def test_state_is_restored_bit_exactly() -> None:
    model, opt, data = _trained_model_and_adam()
    before = _state(model, opt)
    result = range_test(model, opt, torch.nn.MSELoss(), data, num_iter=30, accumulation_steps=2)
    assert len(result.lrs) > 3
    _assert_same(before, _state(model, opt))
    # ... and training goes on as if the test had never run.
    twin_model, twin_opt, _ = _trained_model_and_adam()
    for m, o in ((model, opt), (twin_model, twin_opt)):
        m.train()
        o.zero_grad()
        torch.nn.functional.mse_loss(m(data[0][0]), data[0][1]).backward()
        o.step()
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), twin_model.parameters()))


def test_state_is_restored_after_an_exception_mid_sweep() -> None:
    model, opt, data = _trained_model_and_adam()
    before = _state(model, opt)
    calls = {"n": 0}

    def flaky_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("boom")
        return torch.nn.functional.mse_loss(outputs, targets)

    with pytest.raises(RuntimeError, match="boom"):
        range_test(model, opt, flaky_loss, data, num_iter=30)
    assert calls["n"] == 7  # it did run six steps first
    _assert_same(before, _state(model, opt))


def test_val_data_and_accumulation_are_used() -> None:
    x, y, _ = _regression()
    model = _model()
    val = [(x[:100], y[:100])]
    result = range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), [(x, y)], num_iter=5,
                        start_lr=1e-3, end_lr=1e-2, val_data=val, smooth=1.0)
    # The recorded loss is the validation loss after each step: recompute it independently.
    replay = _model()
    opt = SGD(replay.parameters(), lr=0.1)
    for lr, recorded in zip(result.lrs, result.raw_losses):
        opt.param_groups[0]["lr"] = lr
        opt.zero_grad()
        torch.nn.functional.mse_loss(replay(x), y).backward()
        opt.step()
        with torch.no_grad():
            assert recorded == pytest.approx(float(torch.nn.functional.mse_loss(replay(x[:100]), y[:100])), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_iter": 1}, "num_iter"),
        ({"mode": "log"}, "mode"),
        ({"start_lr": 0.0}, "start_lr"),
        ({"smooth": 0.0}, "smooth"),
        ({"diverge": 1.0}, "diverge"),
        ({"accumulation_steps": 0}, "accumulation_steps"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs: dict, message: str) -> None:
    model = _model()
    with pytest.raises(ValueError, match=message):
        range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), [(torch.ones(2, 8, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64))], **kwargs)


def test_sweep_schedule_end_points() -> None:
    f = sweep_schedule(1e-7, 10.0, 100)
    assert f(0) == pytest.approx(1e-7) and f(99) == pytest.approx(10.0)
    ratios = [f(t + 1) / f(t) for t in range(98)]
    assert max(ratios) == pytest.approx(min(ratios))


def test_suggestion_needs_a_falling_loss() -> None:
    with pytest.raises(NoSuggestion, match="never decreased") as rising:
        RangeTestResult(lrs=[1e-3, 1e-2, 1e-1], losses=[1.0, 1.0, 2.0]).suggestion()
    assert rising.value.reason == "rising" and "lower start_lr" in str(rising.value)
    with pytest.raises(ValueError, match="at least 3"):  # NoSuggestion is a ValueError
        RangeTestResult(lrs=[1e-3, 1e-2], losses=[1.0, 0.5]).suggestion()


# --------------------------------------------------------------------------------------------
# Suggestions on synthetic curves: a loss of 2.3 that falls to 0.3 between lr 1e-3 and 1e-1 (a
# logistic in log lr), then blows up past lr 1, with batch noise of 0.02
# --------------------------------------------------------------------------------------------


def _synthetic(num_iter: int, seed: int, noise: float = 0.02, end_lr: float = 10.0, flat: bool = False) -> RangeTestResult:
    g = torch.Generator().manual_seed(seed)
    lrs = [1e-7 * (end_lr / 1e-7) ** (i / (num_iter - 1)) for i in range(num_iter)]
    raw = []
    for lr in lrs:
        x = math.log10(lr)
        value = 2.3 if flat else 0.3 + 2.0 / (1 + math.exp(3.0 * (x + 2.0))) + (0.0 if x < 0 else 3.0 * x**2)
        raw.append(value + noise * float(torch.randn((), generator=g)))
    losses = smooth_losses(raw, default_smoothing(num_iter))
    # The sweep's own stop: the smoothed loss above 5x its best.
    best, stop = math.inf, len(losses)
    for i, v in enumerate(losses):
        best = min(best, v)
        if v > 5 * best:
            stop = i + 1
            break
    return RangeTestResult(lrs[:stop], losses[:stop], raw[:stop], diverged=stop < num_iter)


def test_a_flat_curve_gets_no_suggestion_and_the_reason() -> None:
    result = _synthetic(100, seed=0, flat=True, end_lr=1e-6)
    with pytest.raises(NoSuggestion) as no:
        result.suggestion()
    message = str(no.value)
    assert no.value.reason == "flat"
    assert re.match(r"the loss did not move: from 2\.[23]\d* to at best 2\.[23]\d* \(0\.\d\d% lower\)", message), message
    assert "batch-to-batch noise" in message and "too small" in message and message.endswith("raise end_lr")
    for method in ("valley", "steepest", "minimum"):
        with pytest.raises(NoSuggestion):
            result.suggest(method)
    with pytest.raises(NoSuggestion):
        result.suggestions()


def test_a_noisy_valley_gets_a_stable_suggestion() -> None:
    picks = {n: [_synthetic(n, seed).suggestion() for seed in range(5)] for n in (100, 300)}
    every = picks[100] + picks[300]
    # Inside the fall (1e-3 .. 1e-1), and within a factor of 2 over seeds and sweep lengths.
    assert all(1e-3 < lr < 1e-1 for lr in every), picks
    assert max(every) / min(every) < 2.0, picks


def test_the_three_suggestions_are_named_and_ordered() -> None:
    result = _synthetic(200, seed=1)
    found = result.suggestions()
    assert list(found) == ["valley", "steepest", "minimum"]
    assert [s.label for s in found.values()] == ["valley", "steepest descent", "minimum / 10"]
    assert found["minimum"].lr == pytest.approx(result.best_lr() / 10)
    assert abs(math.log10(result.lrs[found["minimum"].index] / found["minimum"].lr)) < 0.1
    assert 1e-3 < found["steepest"].lr < 1e-1
    assert result.suggestion() == found["valley"].lr == result.suggest("valley").lr
    with pytest.raises(ValueError, match="method must be one of"):
        result.suggest("fastest")  # type: ignore[arg-type]


def test_longest_descent_matches_fastais_double_loop() -> None:
    def reference(values: list[float]) -> tuple[int, int]:
        # fastai's valley(): lds[i] is the longest decreasing subsequence ending at i.
        n = len(values)
        lds, end = [1] * n, 0
        for i in range(1, n):
            for j in range(i):
                if values[i] < values[j] and lds[i] < lds[j] + 1:
                    lds[i] = lds[j] + 1
                if lds[end] < lds[i]:
                    end = i
        return end - lds[end] + 1, end

    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        values = torch.randn(int(torch.randint(1, 60, (), generator=g)), generator=g).cumsum(0).tolist()
        assert _longest_descent(values) == reference(values)


def test_plot_writes_a_png(tmp_path) -> None:
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    x, y, _ = _regression()
    model = _model()
    result = range_test(model, SGD(model.parameters(), lr=0.1), torch.nn.MSELoss(), [(x, y)])
    fig = result.plot(tmp_path / "lr.png")
    plt.close(fig)
    image = mpimg.imread(tmp_path / "lr.png")
    assert image.shape[0] >= 300 and image.shape[1] >= 500
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_the_plot_legend_names_the_suggestion_used() -> None:
    import matplotlib.pyplot as plt

    result = _synthetic(100, seed=0)
    for method, label in [("valley", "valley"), ("steepest", "steepest descent"), ("minimum", "minimum / 10")]:
        fig = result.plot(method=method)
        labels = fig.axes[0].get_legend_handles_labels()[1]
        plt.close(fig)
        assert f"{label} (used): lr = {result.suggestion(method):.3g}" in labels, labels
        assert sum("(used)" in text for text in labels) == 1 and len(labels) == 5  # loss, smoothed, three picks
    fig = _synthetic(100, seed=0, flat=True, end_lr=1e-6).plot()
    labels = fig.axes[0].get_legend_handles_labels()[1]
    plt.close(fig)
    assert labels == ["loss", "smoothed loss"]  # nothing to suggest, nothing marked
