"""Cerebras' Adafactor (``cerebras.pytorch.optim.Adafactor``), the Hugging Face-style algorithm.

The update rule is :func:`optimkit.optim._hf_adafactor.hf_adafactor_rule`, written once; this
module only holds the class with Cerebras' signature and defaults. No :mod:`optimkit.optim` class
runs that rule, so this one is written out rather than generated like the other Cerebras
optimizers (:mod:`._facades`); like them, it is an optimkit optimizer registered as an
implementation of the abstract Cerebras :class:`~optimkit.cerebras.optim.Optimizer`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optimkit.optim._hf_adafactor import __doc__ as _RULE_DOC
from optimkit.optim import Optimizer as _OptimkitOptimizer
from optimkit.optim import _validation
from optimkit.optim._hf_adafactor import hf_adafactor_rule
from optimkit.optim._placement import state_zeros
from optimkit.optim.optimizer import scalar_step_tensor
from optimkit.registry import register_optimizer

from .optimizer import Optimizer, ParamsT, initialize_state

__all__ = ["Adafactor"]


@register_optimizer(
    "adafactor",
    description="Adafactor as in Hugging Face transformers: factored second moments, relative steps, update clipping.",
    supports_foreach=False,
    supports_differentiable=False,
    supports_complex=False,
    namespace="cerebras",
)
@Optimizer.register
class Adafactor(_OptimkitOptimizer):
    _rule = staticmethod(hf_adafactor_rule)
    _supports_complex = False

    def __init__(
        self,
        params: ParamsT,
        lr: float | None,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        beta1: float | None = None,
        weight_decay: float = 0.0,
        scale_parameter: bool = True,
        relative_step: bool = False,
        warmup_init: bool = False,
    ) -> None:
        for flag, value in (("relative_step", relative_step), ("warmup_init", warmup_init)):
            # Hugging Face's checks below read these as truths: a tensor has none.
            if not isinstance(value, bool):
                raise TypeError(f"Adafactor: {flag} must be a bool, got {value!r}")
        if lr is not None and relative_step:
            raise ValueError("Cannot combine manual `lr` and `relative_step=True` options")
        if warmup_init and not relative_step:
            raise ValueError("`warmup_init=True` requires `relative_step=True`")
        if not (isinstance(eps, (tuple, list)) and len(eps) == 2 and all(isinstance(x, float) for x in eps)):
            raise ValueError(f"Expected `eps` to be a tuple/list of two floats, but got {eps}.")
        # The argument types next (a bool is no weight decay, None no threshold), naming the
        # argument, as for optimkit's other classes without a torch counterpart; Hugging Face's
        # own checks and messages come first where they name it.
        _validation.validate((), locals())
        if clip_threshold <= 0:
            raise ValueError(f"Invalid clip_threshold value: {clip_threshold}")
        if beta1 is not None and not 0.0 <= beta1 < 1.0:
            raise ValueError(f"Invalid beta1 value: {beta1}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "eps": tuple(eps),
            "clip_threshold": clip_threshold,
            "decay_rate": decay_rate,
            "beta1": beta1,
            "weight_decay": weight_decay,
            "scale_parameter": scale_parameter,
            "relative_step": relative_step,
            "warmup_init": warmup_init,
        }
        # Cerebras builds Adafactor with its global step on, and creates the state at once.
        super().__init__(params, defaults, enable_global_step=True)
        initialize_state(self)

    def _check_param(self, group: dict[str, Any], p: Tensor) -> None:
        if torch.is_complex(p):
            raise RuntimeError("Adafactor does not support complex parameters")
        if p.grad is not None and p.grad.is_sparse:
            raise RuntimeError("Adafactor does not support sparse gradients.")

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # Hugging Face's (and Cerebras') state names and shapes, so checkpoints carry over.
        state: dict[str, Any] = {"step": scalar_step_tensor(p, on_device=False)}
        if group["beta1"] is not None:
            state["exp_avg"] = state_zeros(p, slot=0)
        if p.dim() >= 2:
            state["exp_avg_sq_row"] = p.new_zeros(p.shape[:-1])
            state["exp_avg_sq_col"] = p.new_zeros(p.shape[:-2] + p.shape[-1:])
        else:
            state["exp_avg_sq"] = state_zeros(p, slot=1)
        return state

    def _use_foreach(self, group: dict[str, Any], params: list[Tensor]) -> bool:
        # Cerebras' signature has no `foreach`: a per-tensor loop unless a group asks otherwise.
        return bool(group.get("foreach"))

    def state_names_to_sparsify(self) -> list[str]:
        """The states shaped like their parameter: ``exp_avg`` (with ``beta1``) and ``exp_avg_sq``
        (0-D/1-D parameters only; the row and column factors of matrices have no element-wise
        counterpart of a weight mask).

        Example:
            >>> import torch
            >>> from optimkit.cerebras.optim import Adafactor
            >>> w, b = torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(3))
            >>> Adafactor([w, b], lr=1e-2, beta1=0.9).state_names_to_sparsify()
            ['exp_avg', 'exp_avg_sq']
        """
        names = []
        if any(group["beta1"] is not None and group["params"] for group in self.param_groups):
            names.append("exp_avg")
        if any(p.dim() == 1 for group in self.param_groups for p in group["params"]):
            names.append("exp_avg_sq")
        return names


Adafactor.__doc__ = (
    "Adafactor, ``cerebras.pytorch.optim.Adafactor``: the Hugging Face ``transformers`` algorithm\n"
    "(not torch's :class:`optimkit.optim.Adafactor`). Cerebras' hardware accepts only\n"
    "``clip_threshold=1.0``, ``beta1=None`` and ``relative_step=False``; here every value of the\n"
    "signature works.\n"
    + "\n".join(_RULE_DOC.split("\nExample:")[0].splitlines()[2:])
    + r"""
State per parameter: ``step``, ``exp_avg`` (with ``beta1``), ``exp_avg_sq_row`` (shape
``p.shape[:-1]``) and ``exp_avg_sq_col`` (shape ``p.shape[:-2] + p.shape[-1:]``) for parameters with
two or more dimensions, ``exp_avg_sq`` otherwise, and the ``global_step``.

Args:
    params (iterable): the tensors to optimize, or dicts defining parameter groups.
    lr (float, optional): learning rate :math:`\gamma`; must be ``None`` with ``relative_step``.
    eps (Tuple[float, float], optional): :math:`\epsilon_1`, added to :math:`g^2`, and
        :math:`\epsilon_2`, the floor of the parameter RMS (default: (1e-30, 1e-3)).
    clip_threshold (float, optional): :math:`d`, the largest RMS of an unscaled update (default: 1.0).
    decay_rate (float, optional): :math:`c`, the exponent in :math:`\beta_{2,t} = 1 - t^c` (default: -0.8).
    beta1 (float, optional): decay rate of a first moment of the updates; ``None`` keeps none (default: None).
    weight_decay (float, optional): decoupled weight decay :math:`\lambda`, scaled by :math:`\alpha_t` (default: 0.0).
    scale_parameter (bool, optional): scale the step by :math:`\max(\epsilon_2, \mathrm{RMS}(\theta))` (default: True).
    relative_step (bool, optional): use :math:`\min(10^{-2}, 1/\sqrt t)` instead of ``lr`` (default: False).
    warmup_init (bool, optional): with ``relative_step``, use :math:`\min(10^{-6} t, 1/\sqrt t)` (default: False).

Example:
    >>> import torch
    >>> from optimkit.cerebras.optim import Adafactor
    >>> model = torch.nn.Linear(4, 3)
    >>> opt = Adafactor(model.parameters(), lr=1e-2)
    >>> sorted(opt.state[model.weight]), tuple(opt.state[model.weight]["exp_avg_sq_row"].shape)
    (['exp_avg_sq_col', 'exp_avg_sq_row', 'global_step', 'step'], (3,))
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> opt.state[model.bias]["step"], opt.state[model.bias]["global_step"]
    (tensor(1.), tensor(1.))
"""
)
