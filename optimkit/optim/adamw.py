"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._declaration import register
from ._docs import args_doc
from .adam import ADAM_ARGS, ADAM_MATH, Adam
from .optimizer import ParamsT

__all__ = ["AdamW"]


@register(
    "adamw",
    description="AdamW: Adam with weight decay decoupled from the gradient.",
    torch_name="AdamW",
)
class AdamW(Adam):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | Tensor = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        state_dtype: torch.dtype | str | None = None,
        stochastic_rounding: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
            state_dtype=state_dtype,
            stochastic_rounding=stochastic_rounding,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


AdamW.__doc__ = (
    "AdamW (Loshchilov & Hutter, 2019, \"Decoupled Weight Decay Regularization\"), as "
    "``torch.optim.AdamW``: the decoupled branch of :class:`Adam` below, with weight decay 0.01 by default.\n"
    + ADAM_MATH
    + "\n"
    + args_doc(ADAM_ARGS, AdamW)
    + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import AdamW
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> opt.param_groups[0]["decoupled_weight_decay"]
    True
"""
)
