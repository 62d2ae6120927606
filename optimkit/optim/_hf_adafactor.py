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

from typing import Any

from torch import Tensor

from ._executor import ListOps, scalar_value

__all__ = ["hf_adafactor_rule", "relative_step_size"]


def _pick(items: list[Any], indices: list[int]) -> list[Any]:
    return [items[i] for i in indices]


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
    ``exp_avg`` is None everywhere unless ``beta1`` is set.
    """
    ops.add_(step, 1)
    steps_now = [scalar_value(s) for s in step]
    if relative_step:
        rhos = [relative_step_size(t, warmup_init) for t in steps_now]
    else:
        if lr is None:
            raise ValueError(
                "Learning rate is not set for the group: pass `lr` to the constructor or let a "
                "learning rate scheduler set it."
            )
        rhos = [scalar_value(lr)] * len(params)
    if scale_parameter:
        # The parameter's RMS before this step's update and decay.
        alphas = [
            max(eps2, scalar_value(n) / p.numel() ** 0.5) * rho
            for p, n, rho in zip(params, ops.norm(params), rhos)
        ]
    else:
        alphas = rhos
    keep = [1.0 - t**decay_rate for t in steps_now]  # beta2_t
    take = [1.0 - b for b in keep]

    squares = ops.mul(grads, grads)
    ops.add_(squares, eps1)
    updates: list[Tensor] = [None] * len(params)  # type: ignore[list-item]

    factored = [i for i, row in enumerate(exp_avg_sq_row) if row is not None]
    if factored:
        s, g = _pick(squares, factored), _pick(grads, factored)
        rows, cols = _pick(exp_avg_sq_row, factored), _pick(exp_avg_sq_col, factored)
        keep_f, take_f = _pick(keep, factored), _pick(take, factored)
        ops.mul_(rows, keep_f)
        ops.add_scaled_(rows, ops.mean(s, dim=-1, keepdim=False), take_f)
        ops.mul_(cols, keep_f)
        ops.add_scaled_(cols, ops.mean(s, dim=-2, keepdim=False), take_f)
        # 1/sqrt(R C^T / mean(R)) as the outer product of 1/sqrt(R / mean(R)) and 1/sqrt(C).
        row_factors = ops.div(rows, ops.mean(rows, dim=-1, keepdim=True))
        ops.rsqrt_(row_factors)
        col_factors = ops.clone(cols)
        ops.rsqrt_(col_factors)
        products = ops.mul(ops.unsqueeze(row_factors, -1), ops.unsqueeze(col_factors, -2))
        ops.mul_(products, g)
        for i, update in zip(factored, products):
            updates[i] = update

    plain = [i for i, row in enumerate(exp_avg_sq_row) if row is None]
    if plain:
        full = _pick(exp_avg_sq, plain)
        ops.mul_(full, _pick(keep, plain))
        ops.add_scaled_(full, _pick(squares, plain), _pick(take, plain))
        inverse_roots = ops.clone(full)  # a copy: the update must not write into the state
        ops.rsqrt_(inverse_roots)
        ops.mul_(inverse_roots, _pick(grads, plain))
        for i, update in zip(plain, inverse_roots):
            updates[i] = update

    # Clip the update to RMS <= clip_threshold, then scale it by the step size.
    ops.div_(updates, [
        max(1.0, scalar_value(n) / u.numel() ** 0.5 / clip_threshold) for n, u in zip(ops.norm(updates), updates)
    ])
    ops.mul_(updates, alphas)
    if beta1 is not None:
        moments: list[Tensor] = exp_avg  # type: ignore[assignment]
        ops.mul_(moments, beta1)
        ops.add_(moments, updates, alpha=1 - beta1)
        updates = moments
    if weight_decay != 0:
        ops.add_scaled_(params, params, [-weight_decay * a for a in alphas])
    ops.sub_(params, updates)
