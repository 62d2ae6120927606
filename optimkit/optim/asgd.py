"""ASGD: averaged stochastic gradient descent (Polyak & Juditsky, 1992)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, select, squeezed
from ._moments import descent_gradients
from ._placement import state_zeros
from ._scalars import Scalars
from .optimizer import Optimizer, ParamsT

__all__ = ["ASGD", "asgd_rule"]


def asgd_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    eta: list[Tensor],
    mu: list[Tensor],
    ax: list[Tensor],
    tensor_eta: list[bool],
    *,
    lr: float | Tensor,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
    maximize: bool,
    capturable: bool,
) -> None:
    """The ASGD update over lists of tensors (see :class:`ASGD` for the math).

    ``eta`` and ``mu`` are 0-dim tensors per parameter. Without ``capturable`` they are read as
    Python numbers and rewritten from ``step`` with Python arithmetic, as torch does; with it,
    everything stays on the device as tensor operations.

    ``tensor_eta`` (one flag per parameter, the same for a whole bucket) says whether the new
    ``eta`` is computed from the ``step`` tensor itself rather than from its value as a Python float. torch's foreach implementation
    does the former and its for-loop the latter; with a float32 ``step`` the two differ in the
    last bits of ``eta`` (float32 vs float64 arithmetic), so ASGD's foreach and for-loop
    trajectories differ by about 1e-8 relative in torch, and here alike.
    """
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay)
    ops.increment_(step)

    s = Scalars(ops, on_device=capturable)
    eta_now = s.counters(eta)
    ops.mul_(params, s.one_minus(s.mul(eta_now, lambd)))
    s.add_scaled_(params, grads, s.neg(eta_now))
    if capturable:
        # No .item() here, so no copy branch: while mu is 1 this equals a copy up to rounding.
        ops.addcmul_(ax, ops.add(params, ax, alpha=-1), mu)
    else:
        # Until averaging starts (mu == 1) the average is a plain copy of the parameter.
        mu_now = s.counters(mu)
        copying = [i for i, m in enumerate(mu_now) if m == 1]
        averaging = [i for i, m in enumerate(mu_now) if m != 1]
        ops.copy_(select(ax, copying), select(params, copying))
        if averaging:
            averaged = select(ax, averaging)
            ops.addcmul_(averaged, ops.add(select(params, averaging), averaged, alpha=-1), select(mu, averaging))

    # eta = lr / (1 + lambd * lr * t) ** alpha, from the `step` tensors themselves where
    # `tensor_eta` says so (see above), and mu = 1 / max(t - t0, 1).
    e = Scalars(ops, on_device=capturable or tensor_eta[0])
    t = s.counters(step)
    growth = e.add(e.mul(t if e.on_device == s.on_device else e.counters(step), lambd * lr), 1)
    _store(ops, eta, e.div(lr, e.pow(growth, alpha)))
    _store(ops, mu, s.div(1, s.clamp_min(s.add(t, -t0), 1)))


def _store(ops: ListOps, counters: list[Tensor], values: list[Any]) -> None:
    """Overwrite 0-dim counters. Numbers pass through a tensor of the default dtype, as in torch
    (``torch.as_tensor``): a counter stored in float64 (a checkpoint loaded onto float64
    parameters is cast to their dtype) still receives float32-rounded values under the float32
    default."""
    if isinstance(values[0], Tensor):
        ops.copy_(counters, values)
    elif all(c.dtype == torch.get_default_dtype() for c in counters):
        ops.fill_(counters, values)  # the same single rounding, without a tensor per number
    else:
        ops.fill_(counters, [torch.as_tensor(v) for v in values])


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


_RULES = (v.TENSOR_LR, v.LR, v.WEIGHT_DECAY)


@register(
    "asgd",
    description="ASGD: SGD with decaying step size and a running (Polyak) average of the parameters.",
    torch_name="ASGD",
)
class ASGD(Optimizer):
    # `fused=True` runs the rule compiled (torch has no kernel for this algorithm).
    _own_options = ("fused",)
    _elementwise = True
    _rule = staticmethod(asgd_rule)

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        *,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, ASGD._defaults_from_signature(locals()))
        v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # Unlike most optimizers, all three counters live on the parameter's device even when
        # not capturable (torch's choice; the non-capturable step reads them with .item()).
        dtype = _scalar_dtype()
        return {
            "step": torch.zeros((), dtype=dtype, device=p.device),
            "eta": torch.as_tensor(squeezed(group["lr"]), dtype=dtype, device=p.device).clone().detach(),
            "mu": torch.ones((), dtype=dtype, device=p.device),
            "ax": state_zeros(p, slot=0),
        }

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        foreach = self._use_foreach(group, params)
        lists["tensor_eta"] = [foreach] * len(params)
        if group["capturable"] and not torch.compiler.is_compiling():
            # torch's foreach implementation leaves XLA out of the supported devices.
            devices = v.capturable_devices(supports_xla=not foreach)
            if not all(
                p.device.type == m.device.type == e.device.type == s.device.type and p.device.type in devices
                for p, m, e, s in zip(params, lists["mu"], lists["eta"], lists["step"])
            ):
                raise AssertionError(
                    "If capturable=True, params, mus, etas, and state_steps must be on supported devices: "
                    f"{devices}."
                )
        return lists



ASGD.__doc__ = r"""Averaged stochastic gradient descent, as ``torch.optim.ASGD``.

SGD whose step size decays with the number of steps, plus a running average of the iterates
(Polyak & Juditsky, 1992, "Acceleration of Stochastic Approximation by Averaging"). The
parameters themselves follow the SGD iterates; the average is kept in the state as ``ax``:

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda_{wd}\,\theta_{t-1}
     \quad(\text{minus when } \textit{maximize}) \\
   & \theta_t \leftarrow (1 - \lambda\,\eta_{t-1})\,\theta_{t-1} - \eta_{t-1}\, g_t \\
   & \bar\theta_t \leftarrow \begin{cases} \theta_t & \mu_{t-1} = 1 \\
       \bar\theta_{t-1} + \mu_{t-1}(\theta_t - \bar\theta_{t-1}) & \text{otherwise} \end{cases} \\
   & \eta_t \leftarrow \frac{\gamma}{(1 + \lambda\gamma t)^{\alpha}}, \qquad
     \mu_t \leftarrow \frac{1}{\max(1,\ t - t_0)}
   \end{aligned}

with learning rate :math:`\gamma`, decay term :math:`\lambda`, power :math:`\alpha`, averaging
start :math:`t_0`, weight decay :math:`\lambda_{wd}`, :math:`\eta_0 = \gamma` and
:math:`\mu_0 = 1`. State per parameter: ``step``, ``eta`` and ``mu`` (0-dim tensors on the
parameter's device) and ``ax`` (:math:`\bar\theta`).

""" + args_doc(
    {
        "lambd": "lambd (float, optional): decay term; shrinks the weights and the step size over time (default: 1e-4).",
        "alpha": "alpha (float, optional): power of the step-size decay (default: 0.75).",
        "t0": "t0 (float, optional): step after which the average starts weighting past iterates (default: 1e6).",
    },
    ASGD,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import ASGD
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = ASGD([w], lr=0.1, t0=2)
    >>> for _ in range(5):
    ...     opt.zero_grad()
    ...     w.pow(2).sum().backward()
    ...     opt.step()
    >>> sorted(opt.state[w])
    ['ax', 'eta', 'mu', 'step']
    >>> opt.state[w]["mu"]  # 1 / (5 - t0): averaging has started
    tensor(0.3333)
"""
