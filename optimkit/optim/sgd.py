"""Stochastic gradient descent, optionally with (Nesterov) momentum."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, execute_fused, select
from ._moments import descent_gradients
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT

__all__ = ["SGD", "sgd_rule"]


def sgd_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffer: list[Tensor] | None = None,
    first_step: list[bool] | None = None,
    *,
    lr: float | Tensor,
    momentum: float,
    dampening: float,
    weight_decay: float | Tensor,
    nesterov: bool,
    maximize: bool,
) -> None:
    """The SGD update over lists of tensors (see :class:`SGD` for the math)."""
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay)
    if momentum != 0:
        assert momentum_buffer is not None and first_step is not None
        # On its first step a buffer becomes a copy of the gradient, undampened (torch's rule).
        new = [i for i, first in enumerate(first_step) if first]
        ops.copy_(select(momentum_buffer, new), select(grads, new))
        old = [i for i, first in enumerate(first_step) if not first]
        if old:
            running = select(momentum_buffer, old)
            ops.mul_(running, momentum)
            ops.add_(running, select(grads, old), alpha=1 - dampening)
        grads = ops.add(grads, momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    if isinstance(lr, Tensor) and (lr.requires_grad or torch.compiler.is_compiling()):
        ops.add_(params, ops.mul(grads, -lr))
    else:
        ops.add_(params, grads, alpha=-lr)


_RULES = (
    v.TENSOR_LR,
    v.LR,
    v.non_negative("momentum", "Invalid momentum value: {}"),
    v.WEIGHT_DECAY,
)


@register(
    "sgd",
    description="Stochastic gradient descent with optional (Nesterov) momentum and weight decay.",
    torch_name="SGD",
)
class SGD(Optimizer):
    _elementwise = True
    _fused_by_default = True
    # With GradScaler's overflow flag, torch's fused SGD mishandles a skipped first step: its new
    # momentum buffer stays torch.empty_like garbage (the parameters reach 1e29 a step later),
    # and with a zeroed buffer the next step would count as a later one (wrong with dampening).
    # The flag is read on the host instead, as GradScaler does for unfused optimizers: a skipped
    # step creates and changes nothing.
    _skips_overflow_on_host = True
    _rule = staticmethod(sgd_rule)
    # torch's __setstate__ fills `fused` with False, not with the signature's None.
    _old_checkpoint_fills = {"fused": False}
    _own_options = ("state_dtype", "stochastic_rounding")
    _lean_states = {"momentum_buffer": True}

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
        state_dtype: torch.dtype | str | None = None,
        stochastic_rounding: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        # optimkit's own options after torch's checks, so torch's errors come first.
        state_dtype = v.check_lean_options(state_dtype, stochastic_rounding, foreach=foreach, fused=fused,
                                           differentiable=differentiable)
        super().__init__(params, SGD._defaults_from_signature(locals()))
        if fused:
            self._step_supports_amp_scaling = True
            v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)

    def _params_with_grad(self, group: dict[str, Any]) -> list[Tensor]:
        # SGD takes complex parameters and sparse gradients alike: none of the base checks apply.
        # Sparse gradients (nn.Embedding(sparse=True)) are fine for the for-loop and foreach
        # updates, as in torch; only torch's fused kernel rejects them, with this message, before
        # any state exists. (Each .grad read once: this runs for every parameter of every step.)
        grads = [p.grad for p in group["params"]]
        if group.get("fused") and any(g is not None and g.is_sparse for g in grads):
            raise RuntimeError("`_fused_sgd` does not support sparse gradients")
        return [p for p, g in zip(group["params"], grads) if g is not None]

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        if group["momentum"] == 0:
            return {}
        return {"momentum_buffer": state_zeros(p, slot=0)}

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        if group["momentum"] != 0:
            flags = self._first_step_flags(params)
            lists["first_step"] = flags
            buffers = lists["momentum_buffer"]
            for index, (p, first) in enumerate(zip(params, flags)):
                if first and p.grad is not None and p.grad.is_sparse and not buffers[index].is_sparse:
                    # torch's first momentum buffer is a clone of the gradient, so a sparse
                    # gradient gives a sparse buffer (a dense tensor cannot copy_ a sparse one).
                    # Keep that layout: state_dicts then match torch's and load in both ways.
                    buffers[index] = torch.sparse_coo_tensor(
                        size=p.shape, dtype=p.grad.dtype, device=p.grad.device
                    )
                    self.state[p]["momentum_buffer"] = buffers[index]
        return lists

    def _fused_update(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor],
                      per_param: dict[str, list[Any]]) -> None:
        hyper = self._hyperparameters(group)
        buffers = per_param.get("momentum_buffer")
        flags = per_param.get("first_step", [False] * len(params))
        # torch's fused kernel takes one is_first_step flag per call: run new and running buffers
        # in separate calls so a parameter that joins late is still handled correctly.
        for first in (True, False):
            chosen = [i for i, flag in enumerate(flags) if flag == first]
            if not chosen:
                continue

            def kernel(ps: list[Tensor], gs: list[Tensor], bufs: list[Tensor] = [], *,  # noqa: B006
                       grad_scale: Tensor | None, found_inf: Tensor | None, is_first: bool = first) -> None:
                torch._fused_sgd_(
                    ps, gs, bufs,
                    weight_decay=hyper["weight_decay"], momentum=hyper["momentum"], lr=hyper["lr"],
                    dampening=hyper["dampening"], nesterov=hyper["nesterov"], maximize=hyper["maximize"],
                    is_first_step=is_first, grad_scale=grad_scale, found_inf=found_inf,
                )

            execute_fused(
                kernel,
                [params[i] for i in chosen],
                [grads[i] for i in chosen],
                # Buffers kept from a momentum a scheduler has since set to 0 stay untouched.
                {} if buffers is None or not hyper["momentum"] else {"bufs": [buffers[i] for i in chosen]},
                grad_scale=getattr(self, "grad_scale", None),
                found_inf=getattr(self, "found_inf", None),
            )


SGD.__doc__ = r"""Stochastic gradient descent, optionally with momentum, as ``torch.optim.SGD``.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\,\theta_{t-1}
     \quad(\text{minus when } \textit{maximize}) \\
   & \textbf{if } \mu \neq 0: \quad b_t \leftarrow
     \begin{cases} g_t & t = 1 \\ \mu\, b_{t-1} + (1-\tau)\, g_t & t > 1 \end{cases} \\
   & \qquad g_t \leftarrow g_t + \mu\, b_t \ \ (\textit{nesterov}) \quad\text{or}\quad g_t \leftarrow b_t \\
   & \theta_t \leftarrow \theta_{t-1} - \gamma\, g_t
   \end{aligned}

with learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau` and weight decay
:math:`\lambda`. State per parameter: ``momentum_buffer`` (only when momentum is non-zero).

""" + args_doc(
    {
        "momentum": "momentum (float, optional): momentum factor (default: 0).",
        "dampening": "dampening (float, optional): dampening of the momentum, applied from the second step on (default: 0).",
        "nesterov": "nesterov (bool, optional): use Nesterov momentum; needs momentum > 0 and zero dampening (default: False).",
    },
    SGD,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import SGD
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    >>> loss = model(torch.randn(8, 4)).pow(2).mean()
    >>> loss.backward()
    >>> opt.step()
    >>> opt.zero_grad()
"""
