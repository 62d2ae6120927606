"""Plain reference implementations for the optimizers torch.optim does not have (AdaBelief, Lamb, Lion).

They are the test oracle for those classes: each parameter is updated on its own with ordinary
tensor arithmetic written straight from the papers' formulas, with none of optimkit's executor,
list operations or state machinery. Complex parameters are updated through real views, i.e. as
pairs of reals. ``foreach`` and ``differentiable`` are accepted (the test harness passes them) and
ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["ReferenceAdaBelief", "ReferenceLamb", "ReferenceLion"]


def _real(t: Tensor) -> Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def _norm(t: Tensor) -> float:
    """The Euclidean norm as a Python number: the square root of the sum of squares."""
    return math.sqrt(float((t * t).sum()))


class ReferenceLamb(torch.optim.Optimizer):
    """Lamb without bias correction; trust ratio min(||w||, 10) / ||u||, or 1 where a norm is 0."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0, adam: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "adam": adam,
                                  "maximize": maximize})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)  # float32, or float64 when that is the default
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                w, m, v = _real(p), _real(state["exp_avg"]), _real(state["exp_avg_sq"])
                g = -_real(p.grad) if group["maximize"] else _real(p.grad)
                state["step"] += 1

                m.copy_(beta1 * m + (1 - beta1) * g)
                v.copy_(beta2 * v + (1 - beta2) * g * g)
                u = m / (v.sqrt() + eps) + wd * w
                phi = min(_norm(w), 10.0)
                u_norm = _norm(u)
                ratio = phi / u_norm if phi > 0 and u_norm > 0 and not group["adam"] else 1.0
                w.copy_(w - lr * ratio * u)


class ReferenceLion(torch.optim.Optimizer):
    """Lion: w <- w (1 - lr wd) - lr sign(b1 m + (1 - b1) g), then m <- b2 m + (1 - b2) g."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0, maximize: bool = False, *, foreach: bool | None = None,
                 differentiable: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay, "maximize": maximize})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                w, m = _real(p), _real(state["exp_avg"])
                g = -_real(p.grad) if group["maximize"] else _real(p.grad)

                direction = torch.sign(beta1 * m + (1 - beta1) * g)
                w.copy_(w * (1 - lr * wd) - lr * direction)
                m.copy_(beta2 * m + (1 - beta2) * g)


class ReferenceAdaBelief(torch.optim.Optimizer):
    """AdaBelief, Algorithm 2 of Zhuang et al. (2020), one parameter at a time:
    m <- b1 m + (1 - b1) g; s <- b2 s + (1 - b2)(g - m)^2 + eps;
    w <- w - lr / (1 - b1^t) * m / (sqrt(s / (1 - b2^t)) + eps), with AMSGrad on s and L2 or
    decoupled weight decay."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16, weight_decay: float = 0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_var"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_var"] = torch.zeros_like(p)
                w, m, s = _real(p), _real(state["exp_avg"]), _real(state["exp_avg_var"])
                g = -_real(p.grad) if group["maximize"] else _real(p.grad)
                if group["decoupled_weight_decay"]:
                    w.mul_(1 - lr * wd)
                else:
                    g = g + wd * w
                state["step"] += 1
                t = float(state["step"])
                m.copy_(beta1 * m + (1 - beta1) * g)
                s.copy_(beta2 * s + (1 - beta2) * (g - m) ** 2 + eps)
                if group["amsgrad"]:
                    biggest = _real(state["max_exp_avg_var"])
                    biggest.copy_(torch.maximum(biggest, s))
                    s = biggest
                denominator = (s / (1 - beta2**t)).sqrt() + eps
                w.copy_(w - lr / (1 - beta1**t) * m / denominator)
