r"""The Cerebras optimizers (``cerebras.pytorch.optim``) as thin facades over :mod:`optimkit.optim`.

Each class has the signature and defaults that Cerebras documents and subclasses the optimkit
class that owns the update rule, mapping its arguments; no rule is written here. Where Cerebras
differs from torch in the mathematics, the shared rule has a switch (``AdamW(correct_bias=False)``
turns off the bias correction of :func:`optimkit.optim.adam.adam_rule`). Cerebras' Adafactor is a
different algorithm and lives in :mod:`optimkit.cerebras.optim.adafactor`.

What the facades share (see :class:`~optimkit.cerebras.optim.Optimizer`): the state is created by
the constructor (``preinitialize()``), and the classes Cerebras builds with
``enable_global_step=True`` (ASGD, Adafactor, Adagrad, NAdam, RAdam) keep a per-parameter float32
``global_step``. The per-parameter state otherwise has optimkit's (that is, torch's) keys, so
``state_dict()`` cross-loads with :mod:`torch.optim` and :mod:`optimkit.optim`.

Deviations from Cerebras' own kernels, kept on purpose so that every rule exists once:

* Adam/AdamW add ``eps`` to :math:`\sqrt{v_t/(1-\beta_2^t)}` as torch does; Cerebras' kernel adds
  it to :math:`\sqrt{v_t}` before correcting, which is the same update with
  :math:`\epsilon\sqrt{1-\beta_2^t}` in place of :math:`\epsilon` (a difference only in the first
  few hundred steps, and only where :math:`\sqrt{v_t}` is comparable to :math:`\epsilon`).
* SGD with ``dampening > 0`` starts its momentum buffer at the first gradient, as torch does;
  Cerebras starts it at zero, so its first step is scaled by :math:`1 - \text{dampening}`.
"""

from __future__ import annotations

from typing import Any

import optimkit.optim as _optim
from optimkit.registry import get_optimizer, register_optimizer

from .optimizer import Optimizer, ParamsT

__all__ = [
    "ASGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lamb", "Lion", "NAdam", "RAdam",
    "RMSprop", "Rprop", "SGD",
]


def _cerebras(name: str, description: str, *, has_betas: bool = False, has_momentum: bool = False):  # type: ignore[no-untyped-def]
    """Register a facade in the ``"cerebras"`` namespace; complex and sparse support are those of
    the optimkit class it runs (a facade exposes no ``foreach``/``fused``/``differentiable`` flag)."""
    parent = get_optimizer(name)
    return register_optimizer(
        name,
        description=description,
        has_betas=has_betas,
        has_momentum=has_momentum,
        supports_foreach=False,
        supports_fused=False,
        supports_differentiable=False,
        supports_complex=parent.supports_complex,
        supports_sparse=parent.supports_sparse,
        torch_name=None,
        namespace="cerebras",
    )


def _doc(summary: str, math: str, args: dict[str, str], example: str) -> str:
    lines = [summary, "", ".. math::", f"   {math}", "", "Args:"]
    lines += [f"    {key} {text}" for key, text in args.items()]
    return "\n".join(lines) + "\n\nExample:\n" + example


_PARAMS = "(iterable): the tensors to optimize, or dicts defining parameter groups."
_MAXIMIZE = "(bool, optional): maximize the objective instead of minimizing it (default: False)."


@_cerebras("asgd", "Averaged SGD (Cerebras signature; global step on).")
class ASGD(_optim.ASGD, Optimizer):
    _ENABLE_GLOBAL_STEP = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, lambd, alpha, t0, weight_decay, maximize=maximize)


ASGD.__doc__ = _doc(
    "Averaged SGD (Polyak & Juditsky, 1992), ``cerebras.pytorch.optim.ASGD``; the update is "
    ":class:`optimkit.optim.ASGD`'s.",
    r"\eta_t = \frac{\gamma}{(1 + \lambda\gamma t)^{\alpha}},\quad "
    r"\theta_t = (1 - \lambda\eta_{t-1})\theta_{t-1} - \eta_{t-1} g_t,\quad "
    r"\bar\theta_t = \bar\theta_{t-1} + \mu_{t-1}(\theta_t - \bar\theta_{t-1}),\ \mu_t = 1/\max(1, t - t_0)",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-2).",
        "lambd": "(float, optional): decay term :math:`\\lambda` (default: 1e-4).",
        "alpha": "(float, optional): power of the step-size decay (default: 0.75).",
        "t0": "(float, optional): the step at which averaging starts (default: 1e6).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0).",
        "maximize": _MAXIMIZE,
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import ASGD
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = ASGD([w], lr=0.1)
    >>> sorted(opt.state[w])  # created by the constructor
    ['ax', 'eta', 'global_step', 'mu', 'step']
""",
)


@_cerebras("adadelta", "Adadelta (Cerebras signature).")
class Adadelta(_optim.Adadelta, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, rho, eps, weight_decay, maximize=maximize)


Adadelta.__doc__ = _doc(
    "Adadelta (Zeiler, 2012), ``cerebras.pytorch.optim.Adadelta``; the update is "
    ":class:`optimkit.optim.Adadelta`'s.",
    r"v_t = \rho v_{t-1} + (1-\rho) g_t^2,\quad \Delta_t = \frac{\sqrt{u_{t-1}+\epsilon}}{\sqrt{v_t+\epsilon}}\, g_t,"
    r"\quad u_t = \rho u_{t-1} + (1-\rho)\Delta_t^2,\quad \theta_t = \theta_{t-1} - \gamma\Delta_t",
    {
        "params": _PARAMS,
        "lr": "(float, optional): scale of the update :math:`\\gamma` (default: 1.0).",
        "rho": "(float, optional): decay rate of both running averages (default: 0.9).",
        "eps": "(float, optional): added inside both square roots (default: 1e-6).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0).",
        "maximize": _MAXIMIZE,
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import Adadelta
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> sorted(Adadelta([w]).state[w])
    ['acc_delta', 'square_avg', 'step']
""",
)


@_cerebras("adagrad", "Adagrad with eps=1e-6 (Cerebras signature; global step on).")
class Adagrad(_optim.Adagrad, Optimizer):
    _ENABLE_GLOBAL_STEP = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-6,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize=maximize)


Adagrad.__doc__ = _doc(
    "Adagrad (Duchi et al., 2011), ``cerebras.pytorch.optim.Adagrad``: torch's algorithm "
    "(:class:`optimkit.optim.Adagrad`) with ``eps=1e-6`` by default.",
    r"s_t = s_{t-1} + g_t^2,\quad \theta_t = \theta_{t-1} - \frac{\gamma}{1 + (t-1)\eta}\,"
    r"\frac{g_t}{\sqrt{s_t} + \epsilon}",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-2).",
        "lr_decay": "(float, optional): learning-rate decay :math:`\\eta` (default: 0).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0).",
        "initial_accumulator_value": "(float, optional): starting value of the sum :math:`s_0` (default: 0).",
        "eps": "(float, optional): added to the denominator (default: 1e-6).",
        "maximize": _MAXIMIZE,
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import Adagrad
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = Adagrad([w])
    >>> opt.defaults["eps"], opt.enable_global_step
    (1e-06, True)
""",
)

_ADAM_MATH = (
    r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad "
    r"\theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}"
)


@_cerebras("adam", "Adam with eps=1e-6 (Cerebras signature).", has_betas=True)
class Adam(_optim.Adam, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


Adam.__doc__ = _doc(
    "Adam (Kingma & Ba, 2015), ``cerebras.pytorch.optim.Adam``: :class:`optimkit.optim.Adam` with "
    "``eps=1e-6`` by default; ``weight_decay`` is an L2 penalty added to the gradient.",
    _ADAM_MATH,
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-3).",
        "betas": "(Tuple[float, float], optional): decay rates of the two moments (default: (0.9, 0.999)).",
        "eps": "(float, optional): added to the denominator (default: 1e-6).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0.0).",
        "amsgrad": "(bool, optional): use the running maximum of :math:`v_t` (default: False).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import Adam
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> Adam([w]).defaults["eps"]
    1e-06
""",
)


@_cerebras("adamw", "AdamW with eps=1e-6 and an optional bias correction (Cerebras signature).", has_betas=True)
class AdamW(_optim.AdamW, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        correct_bias: bool = True,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
        # A group option like any other, so that a parameter group may override it.
        self.defaults["correct_bias"] = correct_bias
        for group in self.param_groups:
            group.setdefault("correct_bias", correct_bias)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("correct_bias", True)


AdamW.__doc__ = _doc(
    "AdamW (Loshchilov & Hutter, 2019), ``cerebras.pytorch.optim.AdamW``: "
    ":class:`optimkit.optim.AdamW` with ``eps=1e-6`` and ``weight_decay=0.0`` by default, and "
    "``correct_bias=False`` to drop the bias correction (the optimizer of the original BERT):",
    r"\theta_t = (1-\gamma\lambda)\theta_{t-1} - \gamma\,\frac{m_t}{\sqrt{v_t} + \epsilon}"
    r"\quad(\textit{correct\_bias}=\text{False}),\qquad"
    r"\theta_t = (1-\gamma\lambda)\theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}"
    r"\quad\text{otherwise}",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-3).",
        "betas": "(Tuple[float, float], optional): decay rates of the two moments (default: (0.9, 0.999)).",
        "eps": "(float, optional): added to the denominator (default: 1e-6).",
        "weight_decay": "(float, optional): decoupled weight decay :math:`\\lambda` (default: 0.0).",
        "correct_bias": "(bool, optional): divide the moments by :math:`1-\\beta^t` (default: True).",
        "amsgrad": "(bool, optional): use the running maximum of :math:`v_t` (default: False).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import AdamW
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = AdamW([w], lr=0.1, correct_bias=False)
    >>> w.grad = torch.full((2,), 0.5); opt.step()
    >>> w.detach()  # m = 0.05, sqrt(v) = 0.0158...: one step of 0.1 * 3.16...
    tensor([0.6838, 0.6838])
""",
)


@_cerebras("adamax", "Adamax with lr=1e-3 and eps=1e-6 (Cerebras signature).", has_betas=True)
class Adamax(_optim.Adamax, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, maximize=maximize)


Adamax.__doc__ = _doc(
    "Adamax (Kingma & Ba, 2015), ``cerebras.pytorch.optim.Adamax``: :class:`optimkit.optim.Adamax` "
    "with ``lr=1e-3`` and ``eps=1e-6`` by default.",
    r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon),\quad "
    r"\theta_t = \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{u_t}",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-3).",
        "betas": "(Tuple[float, float], optional): decay rates of the moment and of the infinity norm (default: (0.9, 0.999)).",
        "eps": "(float, optional): added to :math:`|g_t|` (default: 1e-6).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0.0).",
        "maximize": _MAXIMIZE,
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import Adamax
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> Adamax([w]).defaults["lr"]
    0.001
""",
)


@_cerebras("lamb", "Lamb, Adam steps rescaled by a per-tensor trust ratio (Cerebras signature).", has_betas=True)
class Lamb(_optim.Lamb, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0,
        adam: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, adam)


Lamb.__doc__ = _doc(
    "Lamb (You et al., 2019), ``cerebras.pytorch.optim.Lamb``; the update is "
    ":class:`optimkit.optim.Lamb`'s (written after Cerebras' version: no bias correction, weight "
    "norm clamped at 10).",
    r"u_t = \frac{m_t}{\sqrt{v_t} + \epsilon} + \lambda\theta_{t-1},\quad "
    r"\theta_t = \theta_{t-1} - \gamma\,\frac{\min(\lVert\theta_{t-1}\rVert, 10)}{\lVert u_t\rVert}\, u_t",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-3).",
        "betas": "(Tuple[float, float], optional): decay rates of the two moments (default: (0.9, 0.999)).",
        "eps": "(float, optional): added to the denominator (default: 1e-6).",
        "weight_decay": "(float, optional): weight decay :math:`\\lambda`, added to the update before the trust ratio (default: 0).",
        "adam": "(bool, optional): use a trust ratio of 1, which makes this Adam without bias correction (default: False).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import Lamb
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> sorted(Lamb([w]).state[w])
    ['exp_avg', 'exp_avg_sq', 'step']
""",
)


@_cerebras("lion", "Lion, the sign of an interpolated momentum (Cerebras signature).", has_betas=True)
class Lion(_optim.Lion, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas, weight_decay)


Lion.__doc__ = _doc(
    "Lion (Chen et al., 2023), ``cerebras.pytorch.optim.Lion``; the update is "
    ":class:`optimkit.optim.Lion`'s.",
    r"\theta_t = (1-\gamma\lambda)\theta_{t-1} - \gamma\,\mathrm{sign}\big(\beta_1 m_{t-1} + (1-\beta_1) g_t\big),"
    r"\quad m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-4).",
        "betas": "(Tuple[float, float], optional): interpolation and momentum decay rates (default: (0.9, 0.99)).",
        "weight_decay": "(float, optional): decoupled weight decay :math:`\\lambda` (default: 0.0).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import Lion
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = Lion([w], lr=0.1)
    >>> w.grad = torch.tensor([0.3, -2.0]); opt.step()
    >>> w.detach()
    tensor([0.9000, 1.1000])
""",
)


@_cerebras("nadam", "NAdam (Cerebras signature; global step on).", has_betas=True)
class NAdam(_optim.NAdam, Optimizer):
    _ENABLE_GLOBAL_STEP = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, momentum_decay)


NAdam.__doc__ = _doc(
    "NAdam (Dozat, 2016), ``cerebras.pytorch.optim.NAdam``; the update is "
    ":class:`optimkit.optim.NAdam`'s.",
    r"\mu_t = \beta_1\big(1 - \tfrac12 0.96^{t\psi}\big),\quad "
    r"\theta_t = \theta_{t-1} - \gamma\Big(\frac{\mu_{t+1} m_t}{1-\prod_{i\le t+1}\mu_i} + "
    r"\frac{(1-\mu_t) g_t}{1-\prod_{i\le t}\mu_i}\Big) \Big/ \big(\sqrt{v_t/(1-\beta_2^t)} + \epsilon\big)",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 2e-3).",
        "betas": "(Tuple[float, float], optional): decay rates of the two moments (default: (0.9, 0.999)).",
        "eps": "(float, optional): added to the denominator (default: 1e-8).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0).",
        "momentum_decay": "(float, optional): :math:`\\psi`, the decay of the momentum schedule (default: 4e-3).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import NAdam
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> sorted(NAdam([w]).state[w])
    ['exp_avg', 'exp_avg_sq', 'global_step', 'mu_product', 'step']
""",
)


@_cerebras("radam", "RAdam with eps=1e-6 (Cerebras signature; global step on).", has_betas=True)
class RAdam(_optim.RAdam, Optimizer):
    _ENABLE_GLOBAL_STEP = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


RAdam.__doc__ = _doc(
    "RAdam (Liu et al., 2020), ``cerebras.pytorch.optim.RAdam``: :class:`optimkit.optim.RAdam` "
    "with ``eps=1e-6`` by default.",
    r"\rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\quad "
    r"\theta_t = \theta_{t-1} - \gamma\,\frac{m_t}{1-\beta_1^t}\cdot"
    r"\begin{cases} r_t\,\frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon} & \rho_t > 5 \\ 1 & \text{otherwise}\end{cases}",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-3).",
        "betas": "(Tuple[float, float], optional): decay rates of the two moments (default: (0.9, 0.999)).",
        "eps": "(float, optional): added to the denominator (default: 1e-6).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0.0).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import RAdam
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> RAdam([w]).defaults["eps"]
    1e-06
""",
)


@_cerebras("rmsprop", "RMSprop (Cerebras signature).", has_momentum=True)
class RMSprop(_optim.RMSprop, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr, alpha, eps, weight_decay, momentum, centered)


RMSprop.__doc__ = _doc(
    "RMSprop (Hinton, 2012), ``cerebras.pytorch.optim.RMSprop``; the update is "
    ":class:`optimkit.optim.RMSprop`'s.",
    r"v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\quad b_t = \mu b_{t-1} + \frac{g_t}{\sqrt{v_t - \bar g_t^2\,[\textit{centered}]} + \epsilon},"
    r"\quad \theta_t = \theta_{t-1} - \gamma b_t",
    {
        "params": _PARAMS,
        "lr": "(float, optional): learning rate :math:`\\gamma` (default: 1e-2).",
        "alpha": "(float, optional): decay rate of the mean square (default: 0.99).",
        "eps": "(float, optional): added to the denominator (default: 1e-8).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0).",
        "momentum": "(float, optional): momentum :math:`\\mu` (default: 0).",
        "centered": "(bool, optional): subtract the squared mean gradient :math:`\\bar g_t^2` (default: False).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import RMSprop
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> sorted(RMSprop([w], momentum=0.9, centered=True).state[w])
    ['grad_avg', 'momentum_buffer', 'square_avg', 'step']
""",
)


@_cerebras("rprop", "Rprop with lr=1e-3 (Cerebras signature).")
class Rprop(_optim.Rprop, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
    ) -> None:
        super().__init__(params, lr, etas, step_sizes)


Rprop.__doc__ = _doc(
    "Rprop (Riedmiller & Braun, 1993), ``cerebras.pytorch.optim.Rprop``: "
    ":class:`optimkit.optim.Rprop` with ``lr=1e-3`` by default.",
    r"\eta_t = \mathrm{clamp}\big(\eta_{t-1}\cdot\{\eta_+, \eta_-, 1\}_{\mathrm{sign}(g_t g_{t-1})},\ "
    r"s_{\min}, s_{\max}\big),\quad \theta_t = \theta_{t-1} - \eta_t\,\mathrm{sign}(g_t)"
    r"\ \ (g_t \leftarrow 0 \text{ where the sign flipped})",
    {
        "params": _PARAMS,
        "lr": "(float, optional): initial step size of every element (default: 1e-3).",
        "etas": "(Tuple[float, float], optional): :math:`(\\eta_-, \\eta_+)`, the factors applied on a sign flip and on a repeated sign (default: (0.5, 1.2)).",
        "step_sizes": "(Tuple[float, float], optional): :math:`(s_{\\min}, s_{\\max})`, the bounds of the step sizes (default: (1e-6, 50.0)).",
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import Rprop
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> Rprop([w]).state[w]["step_size"]
    tensor([0.0010, 0.0010])
""",
)


@_cerebras("sgd", "SGD with optional (Nesterov) momentum; lr is required (Cerebras signature).", has_momentum=True)
class SGD(_optim.SGD, Optimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov, maximize=maximize)


SGD.__doc__ = _doc(
    "Stochastic gradient descent, ``cerebras.pytorch.optim.SGD``: :class:`optimkit.optim.SGD` "
    "with a required learning rate.",
    r"b_t = \mu b_{t-1} + (1-\tau) g_t\ (b_1 = g_1),\quad "
    r"\theta_t = \theta_{t-1} - \gamma\,\begin{cases} g_t + \mu b_t & \textit{nesterov} \\ b_t & \mu \neq 0 \\ g_t & \mu = 0\end{cases}",
    {
        "params": _PARAMS,
        "lr": "(float): learning rate :math:`\\gamma`.",
        "momentum": "(float, optional): momentum :math:`\\mu` (default: 0).",
        "dampening": "(float, optional): dampening :math:`\\tau` of the momentum (default: 0).",
        "weight_decay": "(float, optional): L2 penalty added to the gradient (default: 0).",
        "nesterov": "(bool, optional): Nesterov momentum (default: False).",
        "maximize": _MAXIMIZE,
    },
    """    >>> import torch
    >>> from optimkit.cerebras.optim import SGD
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> opt.state_names_to_sparsify()
    ['momentum_buffer']
""",
)
