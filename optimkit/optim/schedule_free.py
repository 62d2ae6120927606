r"""Schedule-free SGD and AdamW (Defazio et al., 2024, "The Road Less Scheduled").

Schedule-free learning needs no learning-rate schedule and no stopping time: it replaces the
momentum of the base method by an interpolation between two sequences and an average of one of
them. Three points exist per parameter: ``z``, where the base method steps (plain SGD or AdamW's
normalised gradient); ``x``, a weighted running average of the ``z``; and ``y``, the
interpolation between the two at which gradients are taken. With learning rate :math:`\gamma_t`,
interpolation :math:`\beta` (SGD's ``momentum``, AdamW's ``betas[0]``) and averaging weights
:math:`c_{t+1}`:

.. math::
   \begin{aligned}
   & y_t = (1-\beta)\, z_t + \beta\, x_t \\
   & z_{t+1} = z_t - \gamma_t\, d_t \qquad (d_t \text{: the base method's step direction at } y_t) \\
   & x_{t+1} = (1-c_{t+1})\, x_t + c_{t+1}\, z_{t+1}
   \end{aligned}

The parameters hold ``y`` while training (``optimizer.train()``) and ``x`` for evaluation
(``optimizer.eval()``); only ``z`` (and AdamW's second moment) is stored, since ``x`` follows from
``y`` and ``z``. The step moves ``y`` in place to its next value without forming ``x``.

The behaviour, signatures, defaults, state keys (``z``, ``exp_avg_sq``) and parameter-group keys
(``k``, ``train_mode``, ``weight_sum``, ``lr_max``, ``scheduled_lr``) are those of the
``schedulefree`` package (its ``SGDScheduleFree`` and ``AdamWScheduleFree``), whose state dicts
load here and the reverse; ``tests/optim/test_schedule_free.py`` compares the two step by step.
Where this module differs, on purpose: the optimizers start in training mode (the package starts
in evaluation mode and refuses to step until ``train()``, which at that point moves nothing),
``foreach`` defaults to torch's choice (a loop on the CPU, where the package always asks for the
foreach kernels: the same numbers), ``p.grad`` is left as the backward pass made it (the package
overwrites it with the normalised gradient), and the arguments are checked.

Example:
    >>> import torch
    >>> from optimkit.optim import SGDScheduleFree
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    >>> opt = SGDScheduleFree([w], lr=0.5)
    >>> for _ in range(3):
    ...     w.grad = w.detach().clone()          # the gradient of |w|^2 / 2
    ...     opt.step()
    >>> opt.eval(); x = w.detach().clone()       # the average, for evaluation
    >>> opt.train(); y = w.detach().clone()      # back to the point gradients are taken at
    >>> x, y
    (tensor([ 0.2729, -0.2729]), tensor([ 0.2525, -0.2525]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import ListOps
from ._moments import root_of_fresh, update_second_moment
from ._placement import state_zeros
from .optimizer import Optimizer, ParamsT

__all__ = ["AdamWScheduleFree", "AveragingStep", "SGDScheduleFree", "adamw_schedule_free_rule", "averaging_step",
           "sgd_schedule_free_rule"]


# ------------------------------------------------------------------------------ the averaging
class AveragingStep(NamedTuple):
    """The scalars of one step of a parameter group, from :func:`averaging_step`.

    Attributes:
        lr: :math:`\\gamma_t`, the learning rate after warmup (the group's ``scheduled_lr``).
        lr_max: the largest :math:`\\gamma` so far, this step's included (``lr_max``).
        weight_sum: the sum of the averaging weights so far, this step's included (``weight_sum``).
        ckp1: :math:`c_{t+1}`, the share of the new ``z`` in the average ``x``.
    """

    lr: float
    lr_max: float
    weight_sum: float
    ckp1: float


def _number(value: Any) -> Any:
    """A one-element tensor (a Tensor ``lr``, a counter loaded as a tensor) as a Python number."""
    return value.item() if isinstance(value, Tensor) else value


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` for ``base, exponent >= 0``, infinite past a float's range (where
    Python raises OverflowError, the tensors' arithmetic gives inf)."""
    try:
        return base ** exponent
    except OverflowError:
        return math.inf


def _require(ok: bool, name: str, value: Any, needs: str) -> None:
    if not ok:
        raise ValueError(f"schedule-free step: {name}={value!r} in a parameter group; {name} must be {needs}")


def averaging_step(
    *, lr: float | Tensor, k: int | float, warmup_steps: int, r: float, weight_lr_power: float,
    weight_sum: float, lr_max: float,
) -> AveragingStep:
    r"""The scalars of a parameter group's next step, from its options and counters before it.

    Step :math:`t = k + 1` (``k`` steps done) has the learning rate
    :math:`\gamma_t = \textit{lr}\cdot\min(1,\ t/\textit{warmup\_steps})` and the averaging weight
    :math:`w_t = t^r\,(\max_{i \le t}\gamma_i)^{\textit{weight\_lr\_power}}`; the new ``z`` enters
    the average with :math:`c_{t+1} = w_t / \sum_{i \le t} w_i` (0 while every weight is 0). With
    ``r = 0`` and ``weight_lr_power = 0`` that is the uniform average :math:`c_{t+1} = 1/t`;
    ``weight_lr_power = 2`` gives the iterates of warmup (small :math:`\gamma`) little weight.

    Raises:
        ValueError: naming the option, for a learning rate or a step count ``k`` that is not a
            number >= 0, or a negative ``weight_lr_power`` (checked here because a loaded state
            dict or a scheduler can bring them, after the constructor's checks).

    Example:
        >>> from optimkit.optim.schedule_free import averaging_step
        >>> counters = dict(warmup_steps=0, r=0.0, weight_lr_power=0.0, weight_sum=0.0, lr_max=-1.0)
        >>> first = averaging_step(lr=0.1, k=0, **counters)
        >>> first.ckp1, averaging_step(lr=0.1, k=1, **{**counters, "weight_sum": first.weight_sum}).ckp1
        (1.0, 0.5)
        >>> averaging_step(lr=1.0, k=1, **{**counters, "warmup_steps": 4}).lr  # warmup: 2/4 of lr
        0.5
    """
    lr, k, warmup_steps, r, weight_lr_power = map(_number, (lr, k, warmup_steps, r, weight_lr_power))
    _require(k >= 0, "k", k, "a count of steps >= 0")
    _require(weight_lr_power >= 0, "weight_lr_power", weight_lr_power, ">= 0")
    t = k + 1
    scheduled = lr * (t / warmup_steps if k < warmup_steps else 1.0)
    _require(scheduled >= 0, "lr", lr, "a number >= 0")
    lr_max = max(scheduled, _number(lr_max))
    # Both bases are >= 0 here (t >= 1, lr_max >= scheduled >= 0): the powers stay real numbers.
    weight = _power(t, r) * _power(lr_max, weight_lr_power)
    weight_sum = _number(weight_sum) + weight
    return AveragingStep(scheduled, lr_max, weight_sum, weight / weight_sum if weight_sum != 0 else 0.0)


# The group options `averaging_step` reads, as a rule receives them.
_AVERAGING_OPTIONS = ("lr", "k", "warmup_steps", "r", "weight_lr_power", "weight_sum", "lr_max")


def _averaging(group: Mapping[str, Any]) -> AveragingStep:
    return averaging_step(**{name: group[name] for name in _AVERAGING_OPTIONS})


# ----------------------------------------------------------------------------------- the rules
def _interpolate_and_average(ops: ListOps, params: list[Tensor], z: list[Tensor], direction: list[Tensor],
                             step: AveragingStep, beta: float) -> None:
    """Move ``y`` (the parameters) and ``z`` by one step along ``direction``.

    ``y`` goes straight to :math:`y_{t+1} = (1-\\beta) z_{t+1} + \\beta x_{t+1}`: the lerp towards
    ``z`` accounts for the averaging of ``x``, and the gradient term for the moves of both ``z``
    and ``x`` (:math:`-\\gamma d` and :math:`-c\\gamma d`), so ``x`` is never formed.
    """
    ops.lerp_(params, z, step.ckp1)
    ops.add_(params, direction, alpha=step.lr * (beta * (1 - step.ckp1) - 1))
    ops.add_(z, direction, alpha=-step.lr)


def sgd_schedule_free_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    z: list[Tensor],
    *,
    lr: float | Tensor,
    momentum: float,
    weight_decay: float,
    warmup_steps: int,
    r: float,
    weight_lr_power: float,
    k: int,
    weight_sum: float,
    lr_max: float,
) -> None:
    """The schedule-free SGD update over lists of tensors (see :class:`SGDScheduleFree`).

    The counters (``k``, ``weight_sum``, ``lr_max``) are the group's before this step; the
    optimizer advances them after the rule has run over every parameter of the group.
    """
    step = averaging_step(lr=lr, k=k, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                          weight_sum=weight_sum, lr_max=lr_max)
    direction = ops.add(grads, params, alpha=weight_decay) if weight_decay != 0 else grads  # L2 at y
    _interpolate_and_average(ops, params, z, direction, step, momentum)


def adamw_schedule_free_rule(
    ops: ListOps,
    params: list[Tensor],
    grads: list[Tensor],
    z: list[Tensor],
    exp_avg_sq: list[Tensor],
    *,
    lr: float | Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    warmup_steps: int,
    r: float,
    weight_lr_power: float,
    k: int,
    weight_sum: float,
    lr_max: float,
) -> None:
    """The schedule-free AdamW update over lists of tensors (see :class:`AdamWScheduleFree`)."""
    step = averaging_step(lr=lr, k=k, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                          weight_sum=weight_sum, lr_max=lr_max)
    update_second_moment(ops, exp_avg_sq, grads, beta2)
    # The bias correction counts the group's steps (k + 1), as the reference does, not the
    # parameter's own: a parameter whose first gradient comes late is corrected as the others.
    denom = root_of_fresh(ops, ops.div(exp_avg_sq, 1 - beta2 ** (k + 1)))
    ops.add_(denom, eps)
    # A new list rather than dividing p.grad in place, as the reference does: the gradients stay
    # the caller's (one temporary more at the peak).
    direction = ops.div(grads, denom)
    del denom
    if weight_decay != 0:
        ops.add_(direction, params, alpha=weight_decay)  # decoupled from the second moment, at y
    _interpolate_and_average(ops, params, z, direction, step, beta1)


# ------------------------------------------------------------------------------ the optimizers
def _group_defaults(options: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """``defaults``: the constructor's options and the counters every group starts with, in the
    reference's order (which shows in every saved parameter group)."""
    values = {**options, "k": 0, "train_mode": True, "weight_sum": 0.0, "lr_max": -1.0, "scheduled_lr": 0.0}
    return {key: values[key] for key in order}


class _ScheduleFree(Optimizer):
    """What both schedule-free optimizers share: the two modes, the counters of each group, and
    the check that a step happens in training mode."""

    _elementwise = True
    # The option that holds the interpolation beta: a name, or (name, index) of a tuple option.
    _beta_option: tuple[str, int | None]

    def _beta(self, group: Mapping[str, Any]) -> float:
        name, index = self._beta_option
        beta = _number(group[name] if index is None else group[name][index])
        if not 0 < beta <= 1:
            label = name if index is None else f"{name}[{index}]"
            raise ValueError(f"{type(self).__name__}: {label}={beta!r} in a parameter group; the interpolation "
                             "between y and z needs 0 < beta <= 1")
        return float(beta)

    @torch.no_grad()
    def train(self) -> None:
        """Switch to training mode: every parameter with state moves from ``x`` to ``y``
        (:math:`y = (1-\\beta) z + \\beta x`), where the next gradients are to be taken. Call it
        where you call ``model.train()``; a group already in training mode is left alone."""
        self._switch(train=True)

    @torch.no_grad()
    def eval(self) -> None:
        """Switch to evaluation mode: every parameter with state moves from ``y`` to the average
        ``x`` (:math:`x = (y - (1-\\beta) z) / \\beta`). Call it where you call ``model.eval()``,
        and before saving a checkpoint of the model; ``step()`` refuses to run until ``train()``."""
        self._switch(train=False)

    def _switch(self, *, train: bool) -> None:
        for group in self.param_groups:
            if bool(group["train_mode"]) == train:
                continue
            beta = self._beta(group)
            # lerp from y towards z by 1 - 1/beta (a weight <= 0: away from z) gives x; from x
            # towards z by 1 - beta gives y back.
            weight = 1 - beta if train else 1 - 1 / beta
            for p in group["params"]:
                z = self.state.get(p, {}).get("z")  # .get: no empty state for parameters never stepped
                if z is not None:
                    p.lerp_(z.to(p.device), weight)
            group["train_mode"] = train

    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimization step (in training mode only).

        Args:
            closure: re-evaluates the model and returns the loss; optional.

        Raises:
            ValueError: in evaluation mode (call ``optimizer.train()`` first; the reference
                package raises a bare ``Exception`` there), or for a parameter group whose
                learning rate or counters cannot step (see :func:`averaging_step`).
        """
        for index, group in enumerate(self.param_groups):
            if not group["train_mode"]:
                raise ValueError(
                    f"{type(self).__name__} is in eval mode (train_mode is False in parameter group {index}): call "
                    "optimizer.train() before training and optimizer.eval() before evaluating, as with the model"
                )
        for group in self.param_groups:
            _averaging(group)  # every group's counters checked before any parameter moves
        return super().step(closure)

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        # The rule reads the counters as they were before this step (it may run once per run of
        # parameters); they advance once, afterwards, also for a group without gradients.
        super()._update_group(group, params)
        step = _averaging(group)
        group["scheduled_lr"] = step.lr  # (for logging: the reference's name for it)
        group["lr_max"] = step.lr_max
        group["weight_sum"] = step.weight_sum
        group["k"] = group["k"] + 1


_COMMON_RULES = (
    v.TENSOR_LR,  # (read as its value at every step, so foreach takes one as well)
    v.LR,
    v.WEIGHT_DECAY,
    v.non_negative("warmup_steps", "Invalid warmup_steps value: {}"),
    v.non_negative("r", "Invalid r value: {}"),
    v.non_negative("weight_lr_power", "Invalid weight_lr_power value: {}"),
)


# Named schedulefree* (the class names work too, as aliases): `adam*` and `sgd*` keep naming
# torch's families in `optimkit list`.
@register(
    "schedulefreesgd",
    aliases=("sgdschedulefree",),
    description="Schedule-free SGD: interpolation and averaging instead of momentum and a schedule (train()/eval()).",
)
class SGDScheduleFree(_ScheduleFree):
    _rule = staticmethod(sgd_schedule_free_rule)
    _beta_option = ("momentum", None)

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        foreach: bool | None = None,
    ) -> None:
        v.validate((*_COMMON_RULES, _MOMENTUM), locals())
        options = SGDScheduleFree._defaults_from_signature(locals())
        super().__init__(params, _group_defaults(options, _SGD_ORDER))

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        # z starts at the parameter (x = y = z). detach: preinitialize() runs outside no_grad.
        return {"z": p.detach().clone(memory_format=torch.preserve_format)}


_MOMENTUM = v.Rule("momentum", lambda m: 0 < m < 1, "Momentum must be between 0 and 1 exclusive: {}")
_SGD_ORDER = ("lr", "momentum", "r", "k", "warmup_steps", "train_mode", "weight_sum", "lr_max", "scheduled_lr",
              "weight_lr_power", "weight_decay", "foreach")


@register(
    "schedulefreeadamw",
    aliases=("adamwschedulefree",),
    description="Schedule-free AdamW: Adam's normalised steps, interpolation and averaging, no schedule (train()/eval()).",
)
class AdamWScheduleFree(_ScheduleFree):
    # The reference squares complex gradients as complex numbers: no comparison could hold.
    _supports_complex = False
    _rule = staticmethod(adamw_schedule_free_rule)
    _beta_option = ("betas", 0)

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        foreach: bool | None = None,
    ) -> None:
        v.validate((*_COMMON_RULES, v.EPS, _BETA1, v.beta_at(1)), locals())
        options = AdamWScheduleFree._defaults_from_signature(locals())
        super().__init__(params, _group_defaults(options, _ADAMW_ORDER))

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {
            "z": p.detach().clone(memory_format=torch.preserve_format),
            "exp_avg_sq": state_zeros(p, slot=1),
        }


# eval() divides by betas[0]: 0 is refused here, where the reference fails only at eval().
_BETA1 = v.Rule("betas", lambda b: 0 < b < 1, "Invalid beta parameter at index 0: {} (must be in (0, 1))", index=0)
_ADAMW_ORDER = ("lr", "betas", "eps", "r", "k", "warmup_steps", "train_mode", "weight_sum", "lr_max", "scheduled_lr",
                "weight_lr_power", "weight_decay", "foreach")

_MODES = r"""
Call ``optimizer.train()`` where you call ``model.train()`` and ``optimizer.eval()`` where you call
``model.eval()``: training takes gradients at ``y``, evaluation (and a saved model) wants ``x``.
``step()`` in evaluation mode raises ``ValueError``. The optimizer starts in training mode (the
``schedulefree`` package starts in evaluation mode; its required first ``train()`` moves nothing,
so code written for it runs unchanged). Batch normalisation's running statistics are collected
at ``y`` during training: before evaluating, recompute them at ``x`` (``optimizer.eval()``, then a
few training batches through the model in ``model.train()`` mode under ``torch.no_grad()``, then
``model.eval()``; see docs/schedule_free.md).

The warmup is built in (``warmup_steps``): no scheduler is needed, and the group's ``lr`` stays
the peak value while ``scheduled_lr`` shows the one in use. Per parameter the state is ``z``
(and, for AdamW, ``exp_avg_sq``); the step count ``k`` and the averaging's ``weight_sum`` and
``lr_max`` are kept per parameter group, so they travel in ``state_dict()["param_groups"]``.
"""

_LR_ARG = "lr (float, Tensor, optional): the learning rate :math:`\\gamma` after warmup (default: {default})."
_SHARED_ARGS = {
    "warmup_steps": "warmup_steps (int, optional): steps of linear warmup, :math:`\\gamma_t = \\gamma\\, t / "
                    "\\textit{warmup\\_steps}` until then (default: 0).",
    "r": "r (float, optional): the averaging weights grow as :math:`t^r` (polynomial averaging; default: 0.0).",
    "weight_lr_power": "weight_lr_power (float, optional): the averaging weights grow as the largest learning rate "
                       "so far to this power, so warmup's iterates count little; 0 for none (default: 2.0).",
}

SGDScheduleFree.__doc__ = r"""Schedule-free SGD (Defazio, Yang, Mehta, Mishchenko, Khaled and Cutkosky,
2024, "The Road Less Scheduled"), as ``schedulefree.SGDScheduleFree``.

The interpolation :math:`\beta` (``momentum``) takes the place of SGD's momentum, the average
``x`` the place of a decaying schedule:

.. math::
   \begin{aligned}
   & g_t \leftarrow \nabla f(y_t) + \lambda y_t, \qquad
     \gamma_t = \gamma \min(1, t / \textit{warmup\_steps}) \\
   & z_{t+1} = z_t - \gamma_t g_t, \qquad x_{t+1} = (1 - c_{t+1})\, x_t + c_{t+1} z_{t+1} \\
   & y_{t+1} = (1-\beta)\, z_{t+1} + \beta\, x_{t+1}, \qquad
     c_{t+1} = \frac{t^r \gamma_{\max,t}^{p}}{\sum_{i \le t} i^r \gamma_{\max,i}^{p}}
   \end{aligned}

with :math:`p` = ``weight_lr_power`` and :math:`\gamma_{\max,t}` the largest :math:`\gamma_i`
so far. Learning rates 10-50x those of SGD with a schedule are a good start (the default is 1.0).
""" + _MODES + "\n" + args_doc(
    {
        **_SHARED_ARGS, "lr": _LR_ARG.format(default=1.0),
        "momentum": "momentum (float, optional): the interpolation :math:`\\beta` between ``z`` and ``x``, in "
                    "(0, 1) (default: 0.9).",
        "weight_decay": "weight_decay (float, optional): L2 penalty :math:`\\lambda`, its gradient taken at ``y`` "
                        "(default: 0).",
    },
    SGDScheduleFree,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import SGDScheduleFree
    >>> model = torch.nn.Linear(4, 1)
    >>> opt = SGDScheduleFree(model.parameters(), lr=0.5, warmup_steps=10)
    >>> model(torch.randn(8, 4)).pow(2).mean().backward()
    >>> opt.step()
    >>> opt.param_groups[0]["k"], opt.param_groups[0]["scheduled_lr"]
    (1, 0.05)
    >>> opt.eval()    # the parameters now hold x, for evaluation
    >>> opt.train()   # and y again, for the next step
    >>> sorted(opt.state[model.weight])
    ['z']
"""

AdamWScheduleFree.__doc__ = r"""Schedule-free AdamW (Defazio, Yang, Mehta, Mishchenko, Khaled and
Cutkosky, 2024, "The Road Less Scheduled"), as ``schedulefree.AdamWScheduleFree``.

``z`` takes AdamW's steps without a first moment (the interpolation :math:`\beta_1` and the
average ``x`` do its work), weight decay evaluated at ``y``:

.. math::
   \begin{aligned}
   & g_t \leftarrow \nabla f(y_t), \qquad v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad
     \gamma_t = \gamma \min(1, t / \textit{warmup\_steps}) \\
   & d_t = \frac{g_t}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon} + \lambda y_t, \qquad
     z_{t+1} = z_t - \gamma_t d_t \\
   & x_{t+1} = (1 - c_{t+1})\, x_t + c_{t+1} z_{t+1}, \qquad
     y_{t+1} = (1-\beta_1)\, z_{t+1} + \beta_1 x_{t+1}
   \end{aligned}

with :math:`c_{t+1}` as for :class:`SGDScheduleFree`. The bias correction counts the group's
steps. Learning rates 1-10x those of AdamW with a schedule are a good start.
""" + _MODES + "\n" + args_doc(
    {
        **_SHARED_ARGS, "lr": _LR_ARG.format(default=0.0025),
        "betas": "betas (Tuple[float, float], optional): the interpolation :math:`\\beta_1` between ``z`` and ``x``, "
                 "in (0, 1), and the decay :math:`\\beta_2` of the running average of the squared gradient "
                 "(default: (0.9, 0.999)).",
        "weight_decay": "weight_decay (float, optional): decoupled weight decay :math:`\\lambda`, added to the "
                        "normalised step at ``y`` (default: 0).",
    },
    AdamWScheduleFree,
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import AdamWScheduleFree
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = AdamWScheduleFree([w], lr=0.1)
    >>> for _ in range(2):   # z moves by lr against the gradient's sign each step: -0.1, -0.2
    ...     w.grad = torch.tensor([1.0, -1.0])
    ...     opt.step()
    >>> w.detach()                # y = 0.1 z + 0.9 x
    tensor([-0.1550,  0.1550])
    >>> opt.eval(); w.detach()    # x: the average of the z so far
    tensor([-0.1500,  0.1500])
    >>> sorted(opt.state[w])
    ['exp_avg_sq', 'z']
"""
