"""Per-element references for the Cerebras optimizers that ``torch.optim`` does not have.

Each function takes one parameter (a flat list of Python floats, or a tensor for Adafactor) and its
gradients step by step, and returns what the parameter and its state are after every step. They
are written from the published algorithms as Cerebras documents them (``cerebras.pytorch.optim``;
Lamb after cybertronai/pytorch-lamb, Lion after Chen et al. 2023, Adafactor after Hugging Face
``transformers``, AdamW without bias correction after the original BERT optimizer), in plain
Python arithmetic: no optimkit code, no tensor list operations, nothing shared with the classes
they check.

:class:`ElementOracle` makes one of them an oracle of the test database (``tests/cerebras_db``):
a ``torch.optim.Optimizer`` (:class:`TrajectoryOptimizer`) that, at every step, runs the reference
over all the gradients each parameter has had so far and leaves the parameter, and the states the
reference records, where the reference ends. Complex parameters go through their real views
(pairs of reals), as optimkit and torch update them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from tests._db import Documented

__all__ = [
    "ElementOracle", "Trajectory", "TrajectoryOptimizer", "adamw_no_correction_reference", "as_tensor",
    "hf_adafactor_reference", "lamb_reference", "lion_reference",
]


@dataclass
class Trajectory:
    """The parameter after every step (``params[t]`` after step ``t + 1``) and the named state
    after every step (``state[name][t]``), all as flat lists of floats."""

    params: list[list[float]] = field(default_factory=list)
    state: dict[str, list[list[float]]] = field(default_factory=dict)

    def record(self, x: list[float], **state: list[float]) -> None:
        self.params.append(list(x))
        for name, value in state.items():
            self.state.setdefault(name, []).append(list(value))


def _sign(z: float) -> float:
    return 1.0 if z > 0 else -1.0 if z < 0 else 0.0


def _norm(values: list[float]) -> float:
    return math.sqrt(sum(value * value for value in values))


def adamw_no_correction_reference(x: list[float], grads: list[list[float]], *, lr: float, beta1: float,
                                  beta2: float, eps: float, weight_decay: float, amsgrad: bool = False,
                                  ) -> Trajectory:
    """BERT's Adam (``AdamW(correct_bias=False)``): decoupled decay, no bias correction.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  x <- x - lr wd x - lr m / (sqrt(v') + eps),
    where v' = v, or with ``amsgrad`` the running maximum of v (recorded as ``max_exp_avg_sq``).
    """
    x = list(x)
    m = [0.0] * len(x)
    v = [0.0] * len(x)
    v_max = [0.0] * len(x)
    out = Trajectory()
    for g in grads:
        for k in range(len(x)):
            m[k] = beta1 * m[k] + (1 - beta1) * g[k]
            v[k] = beta2 * v[k] + (1 - beta2) * g[k] * g[k]
            v_max[k] = max(v_max[k], v[k])
            denominator = math.sqrt(v_max[k] if amsgrad else v[k]) + eps
            x[k] = x[k] - lr * weight_decay * x[k] - lr * m[k] / denominator
        if amsgrad:
            out.record(x, exp_avg=m, exp_avg_sq=v, max_exp_avg_sq=v_max)
        else:
            out.record(x, exp_avg=m, exp_avg_sq=v)
    return out


def lamb_reference(x: list[float], grads: list[list[float]], *, lr: float, beta1: float, beta2: float,
                   eps: float, weight_decay: float, adam: bool) -> Trajectory:
    """Cerebras' Lamb (cybertronai/pytorch-lamb; version 3 of You et al., no bias correction).

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  u = m / (sqrt(v) + eps) + wd x;
    r = min(||x||, 10) / ||u||, or 1 where either norm is 0, or 1 with ``adam=True``;
    x <- x - lr r u.  ``x`` is one whole tensor: the norms are over all of its elements.
    """
    x = list(x)
    m = [0.0] * len(x)
    v = [0.0] * len(x)
    out = Trajectory()
    for g in grads:
        u = [0.0] * len(x)
        for k in range(len(x)):
            m[k] = beta1 * m[k] + (1 - beta1) * g[k]
            v[k] = beta2 * v[k] + (1 - beta2) * g[k] * g[k]
            u[k] = m[k] / (math.sqrt(v[k]) + eps) + weight_decay * x[k]
        weight_norm = min(_norm(x), 10.0)
        update_norm = _norm(u)
        ratio = 1.0 if adam or weight_norm == 0 or update_norm == 0 else weight_norm / update_norm
        x = [x[k] - lr * ratio * u[k] for k in range(len(x))]
        out.record(x, exp_avg=m, exp_avg_sq=v)
    return out


def lion_reference(x: list[float], grads: list[list[float]], *, lr: float, beta1: float, beta2: float,
                   weight_decay: float) -> Trajectory:
    """Lion (Chen et al., 2023, Algorithm 2), as Cerebras ships it.

    c = b1 m + (1 - b1) g;  x <- x (1 - lr wd) - lr sign(c);  m <- b2 m + (1 - b2) g
    """
    x = list(x)
    m = [0.0] * len(x)
    out = Trajectory()
    for g in grads:
        for k in range(len(x)):
            c = beta1 * m[k] + (1 - beta1) * g[k]
            x[k] = x[k] * (1 - lr * weight_decay) - lr * _sign(c)
            m[k] = beta2 * m[k] + (1 - beta2) * g[k]
        out.record(x, exp_avg=m)
    return out


def hf_adafactor_reference(theta: Tensor, grads: list[Tensor], *, lr: float | None, eps: tuple[float, float],
                           clip_threshold: float, decay_rate: float, beta1: float | None, weight_decay: float,
                           scale_parameter: bool, relative_step: bool, warmup_init: bool) -> Trajectory:
    """Hugging Face's Adafactor (``transformers.optimization.Adafactor``), element by element.

    rho_t = lr, or min(1e-2 | 1e-6 t, 1/sqrt(t)) with ``relative_step`` (| with ``warmup_init``);
    alpha_t = rho_t max(eps2, RMS(x)) with ``scale_parameter``, else rho_t; beta2_t = 1 - t^decay_rate;
    s = g^2 + eps1; for a tensor of two or more dimensions (over its last two, per leading index)
    R <- beta2 R + (1 - beta2) mean_j s, C <- beta2 C + (1 - beta2) mean_i s,
    u = g / sqrt(R_i C_j / mean(R)); otherwise V <- beta2 V + (1 - beta2) s, u = g / sqrt(V);
    u <- alpha u / max(1, RMS(u) / d); with beta1 M <- beta1 M + (1 - beta1) u, u = M;
    x <- x - wd alpha x - u.

    The state recorded is ``exp_avg_sq_row`` / ``exp_avg_sq_col`` (flattened in row-major order
    over the leading indices) for factored tensors, ``exp_avg_sq`` otherwise, and ``exp_avg`` with
    ``beta1``.
    """
    shape = tuple(theta.shape)
    factored = len(shape) >= 2
    n, m = (shape[-2], shape[-1]) if factored else (1, 1)
    batches = math.prod(shape[:-2]) if factored else 1
    x = theta.reshape(-1).tolist()
    size = len(x)
    rows = [[0.0] * n for _ in range(batches)]
    cols = [[0.0] * m for _ in range(batches)]
    second = [0.0] * size
    first = [0.0] * size

    def at(b: int, i: int, j: int) -> int:
        return (b * n + i) * m + j

    out = Trajectory()
    for t, grad in enumerate(grads, start=1):
        g = grad.reshape(-1).tolist()
        if relative_step:
            rho = min(1e-6 * t if warmup_init else 1e-2, 1 / math.sqrt(t))
        else:
            assert lr is not None
            rho = lr
        rms_x = math.sqrt(sum(value * value for value in x) / size)
        alpha = rho * max(eps[1], rms_x) if scale_parameter else rho
        beta2 = 1 - t**decay_rate
        s = [value * value + eps[0] for value in g]
        u = [0.0] * size
        if factored:
            for b in range(batches):
                for i in range(n):
                    rows[b][i] = beta2 * rows[b][i] + (1 - beta2) * sum(s[at(b, i, j)] for j in range(m)) / m
                for j in range(m):
                    cols[b][j] = beta2 * cols[b][j] + (1 - beta2) * sum(s[at(b, i, j)] for i in range(n)) / n
                row_mean = sum(rows[b]) / n
                for i in range(n):
                    for j in range(m):
                        u[at(b, i, j)] = g[at(b, i, j)] / math.sqrt(rows[b][i] * cols[b][j] / row_mean)
        else:
            for k in range(size):
                second[k] = beta2 * second[k] + (1 - beta2) * s[k]
                u[k] = g[k] / math.sqrt(second[k])
        rms_u = math.sqrt(sum(value * value for value in u) / size)
        u = [alpha * value / max(1.0, rms_u / clip_threshold) for value in u]
        if beta1 is not None:
            first = [beta1 * a + (1 - beta1) * b for a, b in zip(first, u)]
            u = list(first)
        x = [value - weight_decay * alpha * value - step for value, step in zip(x, u)]
        state: dict[str, list[float]] = {}
        if factored:
            state["exp_avg_sq_row"] = [value for row in rows for value in row]
            state["exp_avg_sq_col"] = [value for col in cols for value in col]
        else:
            state["exp_avg_sq"] = second
        if beta1 is not None:
            state["exp_avg"] = first
        out.record(x, **state)
    return out


def as_tensor(values: list[float]) -> Tensor:
    """A float64 tensor of a recorded list, for ``torch.testing.assert_close``."""
    return torch.tensor(values, dtype=torch.float64)


# ------------------------------------------------------------------ the references as oracles
def _real(t: Tensor) -> Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def _flat(t: Tensor) -> list[float]:
    return _real(t.detach()).reshape(-1).tolist()


@dataclass(frozen=True)
class ElementOracle:
    """A per-element reference as an oracle of a database entry.

    ``function(x, grads, **hyperparameters)`` gets the documented defaults overridden by a
    parameter group's options, ``betas`` as ``beta1`` and ``beta2``, and not the ``fixed``
    options (the reference only runs those values: BERT's AdamW has ``correct_bias=False``).
    ``tensors``: ``x`` and ``grads`` are tensors (Adafactor's reference) rather than flat lists.
    """

    function: Callable[..., Trajectory]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    tensors: bool = False

    def factory(self, documented: Documented) -> Callable[..., TrajectoryOptimizer]:
        def make(params: Any, **options: Any) -> TrajectoryOptimizer:
            return TrajectoryOptimizer(params, self, documented, **options)

        make.__name__ = make.__qualname__ = f"{self.function.__name__} (per element)"
        return make


class TrajectoryOptimizer(torch.optim.Optimizer):
    """An optimizer that follows an :class:`ElementOracle`: each ``step()`` reruns the reference from
    each parameter's first value over every gradient it has had, then sets the parameter to the
    last value and ``state[p]`` to the last recorded states, as flat float64 tensors (so the
    comparison flattens the real views of the optimizer's own states likewise)."""

    def __init__(self, params: Any, oracle: ElementOracle, documented: Documented, **options: Any) -> None:
        from tests._db import spelled_out  # not at the top: tests._db imports the entries, which import this

        for flag in ("foreach", "fused", "differentiable"):  # the harness's executor flags: one path here
            options.pop(flag, None)
        super().__init__(params, spelled_out(documented, options))
        self.oracle = oracle
        self._history: dict[Tensor, tuple[Tensor, list[Tensor]]] = {}

    def _arguments(self, group: dict[str, Any]) -> dict[str, Any]:
        kwargs = {key: group[key] for key in self.defaults}
        for key, value in self.oracle.fixed.items():
            assert kwargs.pop(key) == value, f"{self.oracle.function.__name__} only runs {key}={value!r}"
        if "betas" in kwargs:
            kwargs["beta1"], kwargs["beta2"] = kwargs.pop("betas")
        return kwargs

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        assert closure is None
        for group in self.param_groups:
            kwargs = self._arguments(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                start, grads = self._history.setdefault(p, (p.detach().clone(), []))
                grads.append(p.grad.detach().clone())
                if self.oracle.tensors:
                    trajectory = self.oracle.function(start, grads, **kwargs)
                else:
                    trajectory = self.oracle.function(_flat(start), [_flat(g) for g in grads], **kwargs)
                real = _real(p)
                real.copy_(as_tensor(trajectory.params[-1]).reshape(real.shape))
                self.state[p] = {name: as_tensor(values[-1]) for name, values in trajectory.state.items()}
