r"""Adafactor as Hugging Face ``transformers`` and Cerebras ship it (Shazeer & Stern, 2018).

This is a different algorithm from torch's :class:`~optimkit.optim.Adafactor` (see
``adafactor.py``), not a variant of the same update, so it is written here once as its own rule:

* :math:`\epsilon_1` is added to :math:`g^2` *before* the running averages (torch floors the
  estimate afterwards instead);
* the row factor is kept per row and the column factor per column, their outer product divided by
  the mean of the row factor (torch divides by the mean row factor of a matrix product);
* the step size is the learning rate times :math:`\max(\epsilon_2, \mathrm{RMS}(\theta))` only
  when ``scale_parameter``; with ``relative_step`` the learning rate is replaced by
  :math:`\min(10^{-2}, 1/\sqrt t)` (or :math:`\min(10^{-6} t, 1/\sqrt t)` with ``warmup_init``);
* an optional first moment (``beta1``) averages the *scaled, clipped* updates;
* the decoupled weight decay is scaled by the full step size :math:`\alpha_t`.

For step :math:`t`, with decay exponent :math:`c` (``decay_rate``) and clipping threshold
:math:`d`:

.. math::
   \begin{aligned}
   & \beta_{2,t} = 1 - t^{c}, \qquad
     \rho_t = \begin{cases} \min(10^{-6}t \text{ or } 10^{-2},\ 1/\sqrt t) & \textit{relative\_step} \\
                            \gamma & \text{otherwise} \end{cases}, \qquad
     \alpha_t = \rho_t \cdot \begin{cases} \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1})) & \textit{scale\_parameter} \\
                                          1 & \text{otherwise} \end{cases} \\
   & s_t = g_t^2 + \epsilon_1 \\
   & \text{2-D and up:}\quad R_t = \beta_{2,t} R_{t-1} + (1-\beta_{2,t})\,\mathrm{mean}_{-1}(s_t), \quad
     C_t = \beta_{2,t} C_{t-1} + (1-\beta_{2,t})\,\mathrm{mean}_{-2}(s_t), \quad
     U_t = g_t \Big/ \sqrt{\frac{R_t C_t^{\top}}{\mathrm{mean}(R_t)}} \\
   & \text{0-D and 1-D:}\quad V_t = \beta_{2,t} V_{t-1} + (1-\beta_{2,t})\, s_t, \quad U_t = g_t / \sqrt{V_t} \\
   & \hat U_t = \alpha_t\, \frac{U_t}{\max\!\big(1, \mathrm{RMS}(U_t)/d\big)}, \qquad
     \hat U_t \leftarrow m_t = \beta_1 m_{t-1} + (1-\beta_1)\hat U_t \quad (\text{when } \beta_1 \text{ is set}) \\
   & \theta_t = \theta_{t-1} - \lambda\alpha_t\,\theta_{t-1} - \hat U_t
   \end{aligned}

:math:`\mathrm{RMS}(x) = \lVert x\rVert_2/\sqrt{\mathrm{numel}(x)}`; :math:`\mathrm{mean}_{-1}` and
:math:`\mathrm{mean}_{-2}` average over the last and the second-to-last dimension, so leading
dimensions of higher-dimensional parameters are batch dimensions.

Example:
    >>> import torch
    >>> from optimkit.optim._executor import execute
    >>> from optimkit.optim._hf_adafactor import hf_adafactor_rule
    >>> w, g = torch.ones(2, 3), torch.full((2, 3), 0.5)
    >>> state = {"step": [torch.tensor(0.0)], "exp_avg_sq_row": [torch.zeros(2)],
    ...          "exp_avg_sq_col": [torch.zeros(3)], "exp_avg_sq": [None], "exp_avg": [None]}
    >>> hyper = dict(lr=0.1, eps1=1e-30, eps2=1e-3, clip_threshold=1.0, decay_rate=-0.8, beta1=None,
    ...              weight_decay=0.0, scale_parameter=False, relative_step=False, warmup_init=False)
    >>> execute(hf_adafactor_rule, [w], [g], state, hyper, foreach=False)
    >>> w  # a constant gradient: |U| = 1 everywhere, so each weight moves by lr
    tensor([[0.9000, 0.9000, 0.9000],
            [0.9000, 0.9000, 0.9000]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._executor import ListOps, scalar_value

__all__ = ["hf_adafactor_rule", "relative_step_size"]


def relative_step_size(step: float, warmup_init: bool) -> float:
    r"""The learning rate :math:`\rho_t` that ``relative_step=True`` uses in place of ``lr``.

    Example:
        >>> relative_step_size(4, warmup_init=False), relative_step_size(4, warmup_init=True)
        (0.01, 4e-06)
    """
    cap = 1e-6 * step if warmup_init else 1e-2
    return min(cap, 1.0 / step**0.5)


def hf_adafactor_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    step: list[Tensor],
    exp_avg_sq_row: list[Tensor | None],
    exp_avg_sq_col: list[Tensor | None],
    exp_avg_sq: list[Tensor | None],
    exp_avg: list[Tensor | None],
    *,
    lr: float | Tensor | None,
    eps1: float,
    eps2: float,
    clip_threshold: float,
    decay_rate: float,
    beta1: float | None,
    weight_decay: float,
    scale_parameter: bool,
    relative_step: bool,
    warmup_init: bool,
) -> None:
    """The Hugging Face-style Adafactor update over lists of tensors (see the module docstring).

    One list may mix factored parameters (two or more dimensions: ``exp_avg_sq_row`` and
    ``exp_avg_sq_col`` set, ``exp_avg_sq`` None) and plain ones (the other way round);
    ``exp_avg`` is None everywhere unless ``beta1`` is set. Only the step count is a list
    operation: the factored moments, the RMS of each tensor and its clipping are per-tensor code.
    """
    ops.increment_(step)
    if not relative_step and lr is None:
        raise ValueError(
            "Learning rate is not set for the group: pass `lr` to the constructor or let a "
            "learning rate scheduler set it."
        )
    for param, grad, counter, row, col, full, avg in zip(params, grads, step, exp_avg_sq_row, exp_avg_sq_col,
                                                        exp_avg_sq, exp_avg):
        t = scalar_value(counter)
        rho = relative_step_size(t, warmup_init) if relative_step else scalar_value(lr)
        # The step size, scaled by the parameter's RMS before this step's update and decay.
        alpha = max(eps2, torch.linalg.vector_norm(param).item() / param.numel() ** 0.5) * rho if scale_parameter else rho
        keep = 1.0 - t**decay_rate  # beta2_t
        take = 1.0 - keep

        square = grad.mul(grad).add_(eps1)
        if row is not None and col is not None:
            row.mul_(keep).add_(square.mean(dim=-1), alpha=take)
            col.mul_(keep).add_(square.mean(dim=-2), alpha=take)
            # 1/sqrt(R C^T / mean(R)) as the outer product of 1/sqrt(R / mean(R)) and 1/sqrt(C).
            row_factor = row.div(row.mean(dim=-1, keepdim=True)).rsqrt_()
            update = row_factor.unsqueeze(-1).mul(col.rsqrt().unsqueeze(-2)).mul_(grad)
        else:
            assert full is not None
            full.mul_(keep).add_(square, alpha=take)
            update = full.rsqrt().mul_(grad)  # a new tensor: the update must not write into the state

        # Clip the update to RMS <= clip_threshold, then scale it by the step size.
        update.div_(max(1.0, torch.linalg.vector_norm(update).item() / update.numel() ** 0.5 / clip_threshold))
        update.mul_(alpha)
        if beta1 is not None:
            assert avg is not None
            update = avg.mul_(beta1).add_(update, alpha=1 - beta1)
        if weight_decay != 0:
            param.add_(param, alpha=-weight_decay * alpha)
        param.sub_(update)
