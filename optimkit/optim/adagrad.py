"""Adagrad (Duchi, Hazan & Singer, 2011): steps scaled by the root of the summed squared gradients.

Dense gradients go through :func:`adagrad_rule` and the executor (for-loop, foreach) or torch's
fused kernel. Sparse gradients (``nn.Embedding(sparse=True)``) cannot: neither the foreach
kernels nor ``view_as_real`` take sparse tensors. For them :func:`adagrad_sparse_update` applies
the same rule to the rows the gradient touches, one tensor at a time, as torch does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, check_fused_device, execute_fused, scalar_value
from ._moments import descent_gradients
from ._placement import state_full
from ._sparse import add_at_, values_at
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["Adagrad", "adagrad_rule", "adagrad_sparse_update"]


def _step_size(lr: float | Tensor, lr_decay: float, step: float | Tensor) -> Any:
    """The learning rate of step ``step`` (counted from 1), decayed as ``lr / (1 + (t - 1) d)``."""
    return lr / (1 + (step - 1) * lr_decay)


def adagrad_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    sum: list[Tensor],  # noqa: A002 (torch's name of the state entry)
    *,
    lr: float | Tensor,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """The Adagrad update over lists of dense tensors (see :class:`Adagrad` for the math).

    ``sum`` is the state entry of that name, the running sum of squared gradients.
    """
    state_sum = sum
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay)
    ops.increment_(step)
    # A Tensor lr gives 0-dim tensors here; as Python numbers they hold the same values.
    minus_step_size = [scalar_value(-_step_size(lr, lr_decay, scalar_value(t))) for t in step]
    ops.addcmul_(state_sum, grads, grads, value=1)
    # Out of place: under differentiable=True sqrt's backward reads its result, which add_ changes.
    std = ops.sqrt(state_sum)
    ops.add_(std, eps)
    ops.addcdiv_(params, grads, std, minus_step_size)


def adagrad_sparse_update(
    param: Tensor,
    grad: Tensor,
    step: Tensor,
    state_sum: Tensor,
    *,
    lr: float | Tensor,
    lr_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """:func:`adagrad_rule` for one parameter whose gradient is a sparse COO tensor.

    Only the rows the gradient touches change, in ``state_sum`` as in the parameter. Repeated
    indices are summed first (``coalesce``): the update is not linear in the gradient. Complex
    tensors are used as they are (torch's sparse path accumulates the complex square ``g * g``).
    """
    step.add_(1)
    if maximize:
        grad = -grad
    grad = grad.coalesce()
    values = grad._values()
    add_at_(state_sum, grad, values.pow(2))
    # The accumulated sums at the touched rows only.
    rms = values_at(state_sum, grad).sqrt_().add_(eps)
    add_at_(param, grad, values / rms, alpha=-_step_size(lr, lr_decay, scalar_value(step)))


_RULES = (
    v.TENSOR_LR,
    v.LR,
    v.non_negative("lr_decay", "Invalid lr_decay value: {}"),
    v.WEIGHT_DECAY,
    v.non_negative("initial_accumulator_value", "Invalid initial_accumulator_value value: {}"),
    v.EPS,
)


@register(
    "adagrad",
    description="Adagrad: per-coordinate steps shrinking with the root of the summed squared gradients.",
    torch_name="Adagrad",
)
class Adagrad(Optimizer):
    _elementwise = True
    _fused_by_default = True
    _rule = staticmethod(adagrad_rule)
    _torch_defaults_order = ("eps", "weight_decay", "initial_accumulator_value")
    _supports_sparse = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        v.validate(_RULES, locals())
        super().__init__(params, Adagrad._defaults_from_signature(locals()))
        if fused:
            v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)
            # torch checks the device and dtype of the first parameter with a gradient once, at
            # the first step (see _check_param), not here.
            self._need_device_dtype_check_for_fused = True
            self._step_supports_amp_scaling = True
        # Unlike its other optimizers, torch creates Adagrad's state in the constructor: a
        # state_dict taken before the first step already holds `step` and `sum` for every
        # parameter. Parameters of groups added later get theirs at their first step.
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].update(self._init_state(group, p))

    def share_memory(self) -> None:
        """Move every parameter's ``sum`` into shared memory (for Hogwild-style training with
        ``torch.multiprocessing``), as torch's Adagrad offers."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        fused = bool(group["fused"])
        # torch fills the accumulator from the optimizer's default, whatever a group says.
        start = self.defaults["initial_accumulator_value"]
        if torch.is_complex(p):
            start = complex(start, start)
        return {
            "step": scalar_step_tensor(p, on_device=fused, fused=fused),
            "sum": state_full(p, start, slot=0),
        }

    def _check_param(self, group: dict[str, Any], p: Tensor) -> None:
        # Sparse gradients are welcome. With fused=True torch checks only the first parameter
        # with a gradient, once; the fused update rejects complex and sparse ones afterwards.
        if group["fused"] and getattr(self, "_need_device_dtype_check_for_fused", True):
            check_fused_device(p)
            self._need_device_dtype_check_for_fused = False

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        if group["fused"]:
            super()._update_group(group, params)
            return
        sparse = [p for p in params if p.grad.is_sparse]  # type: ignore[union-attr]
        if sparse:
            if group["weight_decay"] != 0:
                # torch raises this from inside its update loop, after the parameters before the
                # offending one were updated; here it is raised before any change.
                raise RuntimeError("weight_decay option is not compatible with sparse gradients")
            hyper = self._hyperparameters(group)
            for p in sparse:
                state = self.state[p]
                adagrad_sparse_update(
                    p, p.grad, state["step"], state["sum"],  # type: ignore[arg-type]
                    lr=hyper["lr"], lr_decay=hyper["lr_decay"], eps=hyper["eps"], maximize=hyper["maximize"],
                )
            params = [p for p in params if not p.grad.is_sparse]  # type: ignore[union-attr]
        super()._update_group(group, params)

    def _fused_update(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor],
                      per_param: dict[str, list[Any]]) -> None:
        if any(g.is_sparse or torch.is_complex(p) for p, g in zip(params, grads)):
            raise RuntimeError("`fused` does not support sparse grad or complex param")
        if group["differentiable"]:
            raise RuntimeError("adagrad with fused=True does not support differentiable=True")
        hyper = self._hyperparameters(group)
        lr = hyper["lr"]

        def kernel(ps: list[Tensor], gs: list[Tensor], step: list[Tensor], sum: list[Tensor], *,  # noqa: A002
                   grad_scale: Tensor | None, found_inf: Tensor | None) -> None:
            device_lr = lr.to(ps[0].device) if isinstance(lr, Tensor) and not lr.is_cpu else lr
            torch._foreach_add_(step, 1)
            torch._fused_adagrad_(
                ps, gs, sum, step,
                lr=device_lr, lr_decay=hyper["lr_decay"], weight_decay=hyper["weight_decay"],
                eps=hyper["eps"], maximize=hyper["maximize"], grad_scale=grad_scale, found_inf=found_inf,
            )
            if found_inf is not None:
                # A skipped step (inf/nan gradients under GradScaler) must not count.
                torch._foreach_sub_(step, [found_inf] * len(step))

        execute_fused(
            kernel, params, grads, per_param,
            grad_scale=getattr(self, "grad_scale", None), found_inf=getattr(self, "found_inf", None),
        )


Adagrad.__doc__ = (
    'Adagrad (Duchi, Hazan & Singer, 2011, "Adaptive Subgradient Methods for Online Learning and '
    'Stochastic Optimization"), as ``torch.optim.Adagrad``.\n'
    + r"""
Each coordinate's step is divided by the root of the sum of all its squared gradients so far:
coordinates with large or frequent gradients slow down, rare ones keep large steps.

.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\,\theta_{t-1}
     \quad(\text{minus when } \textit{maximize}) \\
   & \gamma_t \leftarrow \frac{\gamma}{1 + (t-1)\,\eta} \\
   & s_t \leftarrow s_{t-1} + g_t^2 \\
   & \theta_t \leftarrow \theta_{t-1} - \gamma_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}
   \end{aligned}

with :math:`s_0 = \tau` (``initial_accumulator_value``), learning rate :math:`\gamma`, learning
rate decay :math:`\eta` and weight decay :math:`\lambda`. State per parameter: ``step`` and
``sum`` (:math:`s`). As in torch the state is created by the constructor, not at the first step.

Sparse gradients (from ``nn.Embedding(sparse=True)``, say) update only the rows they touch; they
cannot be combined with weight decay or ``fused=True``.

"""
    + args_doc(
        {
            "lr_decay": "lr_decay (float, optional): the learning rate of step t is lr / (1 + (t - 1) lr_decay) (default: 0).",
            "initial_accumulator_value": (
                "initial_accumulator_value (float, optional): starting value of ``sum``. Every group starts "
                "from the constructor's value; as in torch, a group's own value is ignored (default: 0)."
            ),
            "fused": (
                "fused (bool, optional): use torch's fused Adagrad kernel (CPU, CUDA and the other devices "
                "torch lists), floating point parameters with dense gradients only; cannot be combined "
                "with ``foreach`` or ``differentiable`` (default: None)."
            ),
        },
        Adagrad,
    )
    + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Adagrad
    >>> emb = torch.nn.Embedding(10, 3, sparse=True)
    >>> opt = Adagrad(emb.parameters(), lr=0.1)
    >>> list(opt.state[emb.weight])  # created by the constructor
    ['step', 'sum']
    >>> emb(torch.tensor([1, 4])).sum().backward()
    >>> opt.step()
    >>> int((opt.state[emb.weight]["sum"].sum(dim=1) > 0).sum())  # only the rows looked up
    2
"""
)
