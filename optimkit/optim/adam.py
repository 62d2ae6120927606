"""Adam (Kingma & Ba, 2015), with AMSGrad and decoupled weight decay options."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps, execute_fused, scalar_value, squeezed
from ._moments import bias_correction, descent_gradients, update_first_moment, update_second_moment
from ._placement import state_zeros
from ._scalars import Scalars
from .optimizer import Optimizer, ParamsT, scalar_step_tensor

__all__ = ["Adam", "adam_rule"]


def adam_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    exp_avg: list[Tensor],
    exp_avg_sq: list[Tensor],
    max_exp_avg_sq: list[Tensor] | None = None,
    *,
    lr: float | Tensor,
    beta1: float | Tensor,
    beta2: float | Tensor,
    eps: float,
    weight_decay: float | Tensor,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
    capturable: bool,
    differentiable: bool,
    correct_bias: bool = True,
) -> None:
    r"""The Adam update over lists of tensors (see :class:`Adam` for the math).

    ``capturable`` and ``differentiable`` keep the bias corrections as tensors computed from
    ``step`` on its device; otherwise they are Python numbers.
    ``correct_bias=False`` drops both corrections, :math:`\theta_t = \theta_{t-1} - \gamma\,
    m_t / (\sqrt{\hat v_t} + \epsilon)` (Cerebras' ``AdamW(correct_bias=False)``, the optimizer of
    the original BERT); torch's classes always correct.
    """
    grads = descent_gradients(ops, params, grads, maximize=maximize, weight_decay=weight_decay, lr=lr,
                              decoupled=decoupled_weight_decay)
    ops.increment_(step)
    update_first_moment(ops, exp_avg, grads, beta1)
    update_second_moment(ops, exp_avg_sq, grads, beta2)
    second_moment = exp_avg_sq
    if amsgrad:
        assert max_exp_avg_sq is not None
        ops.maximum_(max_exp_avg_sq, exp_avg_sq)
        second_moment = max_exp_avg_sq

    denom = ops.sqrt(second_moment)
    s = Scalars(ops, on_device=capturable or differentiable)
    step_size: Any = -lr
    if correct_bias:
        t = s.counters(step)
        # -lr / (1 - beta1^t), and v / (1 - beta2^t) under the root.
        step_size = s.div(step_size, bias_correction(s, beta1, t))
        ops.div_(denom, s.sqrt(bias_correction(s, beta2, t)))
    ops.add_(denom, eps)
    s.addcdiv_(params, exp_avg, denom, step_size)


_RULES = (v.LR, v.EPS, *v.BETAS, v.WEIGHT_DECAY)


@register(
    "adam",
    description="Adam: adaptive moment estimation, with AMSGrad and decoupled weight decay options.",
    torch_name="Adam",
)
class Adam(Optimizer):
    _elementwise = True
    _fused_by_default = True
    _rule = staticmethod(adam_rule)
    _torch_defaults_order = ("maximize", "foreach")
    _sparse_message = "Adam does not support sparse gradients, please consider SparseAdam instead"
    _own_options = ("state_dtype", "stochastic_rounding")
    _lean_states = {"exp_avg": True, "exp_avg_sq": False, "max_exp_avg_sq": False}

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | Tensor = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
        state_dtype: torch.dtype | str | None = None,
        stochastic_rounding: bool | None = None,
    ) -> None:
        v.tensor_hyperparameter("lr", lr, foreach=foreach, capturable=capturable)
        v.validate(_RULES, locals())
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        for index in (0, 1):
            v.tensor_hyperparameter(f"betas[{index}]", betas[index], foreach=foreach, capturable=capturable)
        # torch keeps 1-element betas as 0-dim tensors.
        betas = (squeezed(betas[0]), squeezed(betas[1]))
        # optimkit's own options after torch's checks, so torch's errors come first.
        state_dtype = v.check_lean_options(state_dtype, stochastic_rounding, foreach=foreach, fused=fused,
                                           differentiable=differentiable, capturable=capturable)
        super().__init__(params, Adam._defaults_from_signature(locals()))
        if fused:
            v.check_fused_flags(fused=fused, foreach=foreach, differentiable=differentiable)
            self._step_supports_amp_scaling = True

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        fused = bool(group["fused"])
        state: dict[str, Any] = {
            "step": scalar_step_tensor(p, on_device=group["capturable"] or fused, fused=fused),
            "exp_avg": state_zeros(p, slot=0),
            "exp_avg_sq": state_zeros(p, slot=1),
        }
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = state_zeros(p, slot=2)
        return state

    def _use_foreach(self, group: dict[str, Any], params: list[Tensor]) -> bool:
        if group["foreach"] is None and group["fused"] is None:
            # torch does not switch foreach on by default for a Tensor lr without capturable.
            if isinstance(group["lr"], Tensor) and not group["capturable"]:
                return False
        return super()._use_foreach(group, params)

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        lists = super()._per_param_lists(group, params)
        if group["differentiable"] and any(t.requires_grad for t in lists["step"]):
            raise RuntimeError("`requires_grad` is not supported for `step` in differentiable mode")
        if group["foreach"] and isinstance(group["lr"], Tensor) and not group["capturable"]:
            raise RuntimeError("lr as a Tensor is not supported for capturable=False and foreach=True")
        if group["capturable"] and not group["fused"]:
            # torch's foreach kernel leaves XLA out of the devices its message lists.
            v.check_capturable_devices(params, lists["step"], supports_xla=not self._use_foreach(group, params))
        return lists

    def _fused_update(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor],
                      per_param: dict[str, list[Any]]) -> None:
        hyper = self._hyperparameters(group)
        kernel_fn = torch._fused_adamw_ if hyper["decoupled_weight_decay"] else torch._fused_adam_
        lr = hyper["lr"]

        def kernel(ps: list[Tensor], gs: list[Tensor], step: list[Tensor], exp_avg: list[Tensor],
                   exp_avg_sq: list[Tensor], max_exp_avg_sq: list[Tensor] = [], *,  # noqa: B006
                   grad_scale: Tensor | None, found_inf: Tensor | None) -> None:
            device_lr = lr.to(ps[0].device) if isinstance(lr, Tensor) and not lr.is_cpu else lr
            torch._foreach_add_(step, 1)
            kernel_fn(
                ps, gs, exp_avg, exp_avg_sq, max_exp_avg_sq, step,
                amsgrad=hyper["amsgrad"], lr=device_lr, beta1=scalar_value(hyper["beta1"]),
                beta2=scalar_value(hyper["beta2"]), weight_decay=hyper["weight_decay"], eps=hyper["eps"],
                maximize=hyper["maximize"], grad_scale=grad_scale, found_inf=found_inf,
            )
            if found_inf is not None:
                # A skipped step (inf/nan gradients under GradScaler) must not count.
                torch._foreach_sub_(step, [found_inf] * len(step))

        execute_fused(
            kernel, params, grads, per_param,
            grad_scale=getattr(self, "grad_scale", None), found_inf=getattr(self, "found_inf", None),
        )


ADAM_MATH = r"""
.. math::
   \begin{aligned}
   & g_t \leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize}) \\
   & \textbf{if } \lambda \neq 0: \quad
     \begin{cases} \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) & \text{decoupled (AdamW)} \\
                   g_t \leftarrow g_t + \lambda\theta_{t-1} & \text{otherwise} \end{cases} \\
   & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
     v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
   & \hat v_t \leftarrow \max(\hat v_{t-1}, v_t) \ (\textit{amsgrad}) \quad\text{or}\quad \hat v_t \leftarrow v_t \\
   & \theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
     \frac{m_t}{\sqrt{\hat v_t / (1-\beta_2^t)} + \epsilon}
   \end{aligned}

State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`) and, with
AMSGrad, ``max_exp_avg_sq`` (:math:`\hat v`).
"""

ADAM_ARGS = {
    "amsgrad": "amsgrad (bool, optional): use the running maximum of ``exp_avg_sq`` (AMSGrad, Reddi et al. 2018) (default: False).",
    "decoupled_weight_decay": "decoupled_weight_decay (bool, optional): shrink the weights directly instead of adding the decay to the gradient, which makes this AdamW (default: False).",
    "betas": "betas (Tuple[float | Tensor, float | Tensor], optional): decay rates of the running averages of the gradient and of its square; both floats or both 1-element tensors (default: (0.9, 0.999)).",
}

Adam.__doc__ = (
    "Adam (Kingma & Ba, 2015, \"Adam: A Method for Stochastic Optimization\"), as ``torch.optim.Adam``.\n"
    + ADAM_MATH
    + "\n"
    + args_doc(ADAM_ARGS, Adam)
    + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import Adam
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = Adam(model.parameters(), lr=1e-2, amsgrad=True)
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> sorted(opt.state[model.weight])
    ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']
"""
)
