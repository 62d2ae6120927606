r"""Weight averaging: stochastic weight averaging (SWA), exponential moving averages (EMA), the
SWA learning-rate schedule and the BatchNorm statistics refresh, with :mod:`torch.optim.swa_utils`'s
names, signatures and ``state_dict`` layout.

* :class:`AveragedModel` keeps a copy of a network whose weights are a running average of the
  weights the network had at each :meth:`~AveragedModel.update_parameters` call.
* :func:`get_swa_avg_fn` / :func:`get_swa_multi_avg_fn` give the equal-weight average and
  :func:`get_ema_avg_fn` / :func:`get_ema_multi_avg_fn` the exponential one, either tensor by tensor
  (``avg_fn``) or for a whole list of tensors at once (``multi_avg_fn``).
* :class:`SWALR` moves every group's learning rate from its current value to a constant ``swa_lr``.
* :func:`update_bn` recomputes BatchNorm running statistics for the averaged weights.

Example:
    >>> import torch
    >>> from optimkit.optim import swa_utils
    >>> net = torch.nn.Linear(3, 1)
    >>> ema = swa_utils.AveragedModel(net, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9))
    >>> ema.update_parameters(net)
    >>> int(ema.n_averaged)
    1
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import Any, Literal, Union

import torch
from torch import Tensor
from torch.nn import Module
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils._foreach_utils import _get_foreach_kernels_supported_devices

from ..registry import register_scheduler
from ._executor import bucket_by_device_and_dtype
from .lr_scheduler import LRScheduler, _per_group, _warn_unless_in_step

__all__ = [
    "AveragedModel",
    "update_bn",
    "SWALR",
    "get_ema_multi_avg_fn",
    "get_swa_multi_avg_fn",
    "get_ema_avg_fn",
    "get_swa_avg_fn",
]

#: A list (or tuple) of tensors, as handed to a ``multi_avg_fn``.
TensorList = Union[list[Tensor], tuple[Tensor, ...]]
#: ``avg_fn(averaged, current, num_averaged) -> new averaged`` (one tensor at a time).
AvgFn = Callable[[Tensor, Tensor, Union[Tensor, int]], Tensor]
#: ``multi_avg_fn(averaged_list, current_list, num_averaged)``, updating ``averaged_list`` in place.
MultiAvgFn = Callable[[TensorList, TensorList, Union[Tensor, int]], None]


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def _lerp_capable(t: Tensor) -> bool:
    # torch._foreach_lerp_ is only defined for floating point and complex tensors.
    return torch.is_floating_point(t) or torch.is_complex(t)


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    r"""An exponential moving average that updates a whole list of averaged tensors in place.

    With decay :math:`\beta`, the first call of :meth:`AveragedModel.update_parameters` copies the
    weights (:math:`\bar W_0 = W_0`) and every later call computes

    .. math::
        \bar W_{t} = \beta \, \bar W_{t-1} + (1 - \beta) \, W_{t}
                   = \mathrm{lerp}\big(\bar W_{t-1}, W_{t}, 1 - \beta\big).

    Floating point and complex tensors use one ``torch._foreach_lerp_`` call; integer tensors (such
    as BatchNorm's ``num_batches_tracked`` when buffers are averaged) get
    :math:`\beta \bar W + (1-\beta) W` rounded toward zero by the in-place copy.

    Args:
        decay (float): :math:`\beta`, in :math:`[0, 1]` (default: 0.999).

    Returns:
        ``fn(averaged_list, current_list, num_averaged)``, usable as ``multi_avg_fn``; the count is
        ignored.

    Raises:
        ValueError: when ``decay`` lies outside :math:`[0, 1]`.

    Example:
        >>> import torch
        >>> from optimkit.optim.swa_utils import get_ema_multi_avg_fn
        >>> avg, new = [torch.zeros(2)], [torch.full((2,), 10.0)]
        >>> get_ema_multi_avg_fn(0.75)(avg, new, 1)
        >>> avg[0].tolist()
        [2.5, 2.5]
    """
    _check_decay(decay)

    @torch.no_grad()
    def ema_multi_update(averaged: TensorList, current: TensorList, num_averaged: Tensor | int) -> None:
        del num_averaged  # an EMA does not depend on how many models it has seen
        if _lerp_capable(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1 - decay)
            return
        for avg, cur in zip(averaged, current, strict=True):
            avg.copy_(avg * decay + cur * (1 - decay))

    return ema_multi_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    r"""The equal-weight (SWA) running average, updating a whole list of tensors in place.

    After :math:`n` models have been averaged, the next one enters with weight :math:`1/(n+1)`:

    .. math::
        \bar W_{n+1} = \bar W_n + \frac{W - \bar W_n}{n + 1}
                     = \mathrm{lerp}\Big(\bar W_n, W, \frac{1}{n + 1}\Big),

    so :math:`\bar W_n` is the arithmetic mean of the :math:`n` models seen so far. Floating point
    and complex tensors use one ``torch._foreach_lerp_`` call with weight ``1 / (n + 1)``. When
    ``n`` is a tensor (as :class:`AveragedModel` passes it) that weight is a 0-dim tensor of the
    default dtype, as in torch, so a float64 average under a float32 default dtype is rounded to
    float32 precision in its weight; we keep this so results stay identical to torch's.

    Integer tensors take the quotient form, one tensor at a time, rounded toward zero by the
    in-place copy. (torch raises a ``RuntimeError`` here, from ``addcdiv`` or from a floating
    ``alpha``; we give the integer result that torch's own per-tensor CPU path produces instead.)

    Returns:
        ``fn(averaged_list, current_list, num_averaged)``, usable as ``multi_avg_fn``.

    Example:
        >>> import torch
        >>> from optimkit.optim.swa_utils import get_swa_multi_avg_fn
        >>> avg, new = [torch.full((2,), 1.0)], [torch.full((2,), 4.0)]
        >>> get_swa_multi_avg_fn()(avg, new, torch.tensor(2))  # mean of (1, 1, 4)
        >>> avg[0].tolist()
        [2.0, 2.0]
    """

    @torch.no_grad()
    def swa_multi_update(averaged: TensorList, current: TensorList, num_averaged: Tensor | int) -> None:
        if _lerp_capable(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1 / (num_averaged + 1))  # type: ignore[arg-type]
            return
        for avg, cur in zip(averaged, current, strict=True):
            avg.copy_(avg + (cur - avg) / (num_averaged + 1))

    return swa_multi_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    r"""An exponential moving average, one tensor at a time.

    Returns a new tensor :math:`\beta \, \bar W + (1 - \beta) \, W` (see
    :func:`get_ema_multi_avg_fn`; the two differ only in rounding, since this one multiplies and adds
    where the list version calls ``lerp``).

    Args:
        decay (float): :math:`\beta`, in :math:`[0, 1]` (default: 0.999).

    Returns:
        ``fn(averaged, current, num_averaged) -> Tensor``, usable as ``avg_fn``.

    Raises:
        ValueError: when ``decay`` lies outside :math:`[0, 1]`.

    Example:
        >>> import torch
        >>> from optimkit.optim.swa_utils import get_ema_avg_fn
        >>> get_ema_avg_fn(0.5)(torch.tensor([2.0]), torch.tensor([6.0]), 3).tolist()
        [4.0]
    """
    _check_decay(decay)

    @torch.no_grad()
    def ema_update(averaged: Tensor, current: Tensor, num_averaged: Tensor | int) -> Tensor:
        del num_averaged
        return decay * averaged + (1 - decay) * current

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    r"""The equal-weight (SWA) running average, one tensor at a time.

    Returns a new tensor :math:`\bar W + (W - \bar W) / (n + 1)` where :math:`n` is the number of
    models already averaged (see :func:`get_swa_multi_avg_fn`).

    Returns:
        ``fn(averaged, current, num_averaged) -> Tensor``, usable as ``avg_fn``.

    Example:
        >>> import torch
        >>> from optimkit.optim.swa_utils import get_swa_avg_fn
        >>> get_swa_avg_fn()(torch.tensor([3.0]), torch.tensor([7.0]), 3).tolist()  # mean of (3,3,3,7)
        [4.0]
    """

    @torch.no_grad()
    def swa_update(averaged: Tensor, current: Tensor, num_averaged: Tensor | int) -> Tensor:
        return averaged + (current - averaged) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    r"""A copy of a network whose weights are a running average of the network's weights.

    Stochastic Weight Averaging (Izmailov et al., *Averaging Weights Leads to Wider Optima and
    Better Generalization*, UAI 2018, https://arxiv.org/abs/1803.05407) averages the weights
    visited late in training with equal weights; an exponential moving average (Polyak averaging
    with geometric weights) favours recent weights. Each call of :meth:`update_parameters` folds the
    current weights :math:`W` of ``model`` into the copy:

    .. math::
        \bar W \leftarrow
        \begin{cases}
            W & \text{first call } (n = 0) \\
            \mathrm{avg}(\bar W, W, n) & \text{later calls}
        \end{cases}
        \qquad n \leftarrow n + 1

    where :math:`n` is the ``n_averaged`` buffer (an ``int64`` scalar) and :math:`\mathrm{avg}`
    defaults to the equal-weight mean :math:`\bar W + (W - \bar W)/(n + 1)`.

    Args:
        model (torch.nn.Module): the network to average; it is deep-copied, so later changes to
            ``model`` reach the copy only through :meth:`update_parameters`.
        device (torch.device, optional): where to keep the copy and ``n_averaged`` (default: the
            device of ``model``'s tensors).
        avg_fn (callable, optional): ``avg_fn(averaged, current, n) -> Tensor``, applied tensor by
            tensor (see :func:`get_swa_avg_fn`, :func:`get_ema_avg_fn`).
        multi_avg_fn (callable, optional): ``multi_avg_fn(averaged_list, current_list, n)``, updating
            each (device, dtype) bucket of tensors in place (see :func:`get_swa_multi_avg_fn`,
            :func:`get_ema_multi_avg_fn`). With neither function given, the equal-weight mean is
            used: per tensor on the CPU, with ``torch._foreach_lerp_`` on CUDA and other foreach
            devices, as torch does.
        use_buffers (bool): also average the buffers (BatchNorm running statistics included) with
            the same function. When ``False`` (default) buffers are copied from ``model`` at every
            update instead; refresh BatchNorm statistics afterwards with :func:`update_bn`.

    Raises:
        AssertionError: when both ``avg_fn`` and ``multi_avg_fn`` are given (torch's error type).

    The averaging functions are not part of :meth:`state_dict`, whose keys are ``n_averaged``
    followed by ``module.<name>`` for every parameter and buffer of the copy, exactly as in
    :class:`torch.optim.swa_utils.AveragedModel`; checkpoints load into either class.

    Example:
        >>> import torch
        >>> from optimkit.optim.swa_utils import AveragedModel
        >>> net = torch.nn.Linear(2, 1, bias=False)
        >>> swa = AveragedModel(net)
        >>> for value in (1.0, 2.0, 6.0):
        ...     with torch.no_grad():
        ...         _ = net.weight.fill_(value)
        ...     swa.update_parameters(net)
        >>> swa.module.weight.tolist(), int(swa.n_averaged)
        ([[3.0, 3.0]], 3)
        >>> list(swa.state_dict())
        ['n_averaged', 'module.weight']
    """

    n_averaged: Tensor

    def __init__(
        self,
        model: Module,
        device: int | torch.device | None = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the averaged copy of the network."""
        return self.module(*args, **kwargs)

    def _averaged_tensors(self) -> Iterator[Tensor]:
        if self.use_buffers:
            return itertools.chain(self.module.parameters(), self.module.buffers())
        return self.parameters()

    @staticmethod
    def _source_tensors(model: Module, use_buffers: bool) -> Iterator[Tensor]:
        if use_buffers:
            return itertools.chain(model.parameters(), model.buffers())
        return model.parameters()

    def update_parameters(self, model: Module) -> None:
        """Fold the current weights of ``model`` into the average (the first call copies them)."""
        averaged: list[Tensor] = []
        current: list[Tensor] = []
        # Pairs are formed by position; torch stops at the shorter of the two sequences.
        for avg, src in zip(self._averaged_tensors(), self._source_tensors(model, self.use_buffers)):
            averaged.append(avg.detach())
            current.append(src.detach().to(avg.device))

        if bool(self.n_averaged == 0):
            for avg, cur in zip(averaged, current):
                avg.copy_(cur)
        elif self.n_averaged > 0:
            self._fold(averaged, current)

        if not self.use_buffers:
            # Buffers are not averaged: they follow the source network.
            for own, src in zip(self.module.buffers(), model.buffers(), strict=True):
                own.detach().copy_(src.detach().to(own.device))
        self.n_averaged += 1

    def _fold(self, averaged: list[Tensor], current: list[Tensor]) -> None:
        """One averaging update of ``averaged`` toward ``current`` (after the first model)."""
        if self.avg_fn is not None:
            for avg, cur in zip(averaged, current, strict=True):
                avg.copy_(self.avg_fn(avg, cur, self.n_averaged.to(avg.device)))
            return
        for (device, _), indices in bucket_by_device_and_dtype(averaged).items():
            bucket_avg = [averaged[i] for i in indices]
            bucket_cur = [current[i] for i in indices]
            count = self.n_averaged.to(device)
            if self.multi_avg_fn is not None:
                self.multi_avg_fn(bucket_avg, bucket_cur, count)
            elif device.type in _get_foreach_kernels_supported_devices():
                # torch's default on foreach devices: one lerp over the bucket.
                get_swa_multi_avg_fn()(bucket_avg, bucket_cur, count)
            else:
                mean = get_swa_avg_fn()
                for avg, cur in zip(bucket_avg, bucket_cur, strict=True):
                    avg.copy_(mean(avg, cur, count))


@torch.no_grad()
def update_bn(
    loader: Iterable[Any],
    model: Module,
    device: int | torch.device | None = None,
) -> None:
    r"""Recompute the running mean and variance of every BatchNorm layer of ``model`` from data.

    The statistics kept during training belong to the weights of that time, not to averaged
    weights. This function resets them and makes one pass over ``loader`` in training mode with
    ``momentum=None``, so each layer ends with the cumulative average over the batches
    :math:`b = 1..B` it saw:

    .. math::
        \mu = \frac{1}{B} \sum_{b=1}^{B} \mathrm{mean}_b, \qquad
        \sigma^2 = \frac{1}{B} \sum_{b=1}^{B} \mathrm{var}^{\text{unbiased}}_b .

    The layers' ``momentum`` values and the model's training/eval mode are restored afterwards.
    A model without BatchNorm layers is left untouched (``loader`` is not read).

    Args:
        loader (iterable): batches, each a tensor or a list/tuple whose first element is the input
            tensor (the rest, e.g. targets, is ignored).
        model (torch.nn.Module): the network (often an :class:`AveragedModel`).
        device (torch.device, optional): if given, each input is moved there before the forward
            pass.

    Example:
        >>> import torch
        >>> from optimkit.optim.swa_utils import update_bn
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).eval()
        >>> data = [torch.ones(4, 2), torch.zeros(4, 2)]
        >>> update_bn(data, net)
        >>> expected = (net[0](torch.ones(1, 2)) + net[0](torch.zeros(1, 2))) / 2
        >>> torch.allclose(net[1].running_mean, expected[0]), net.training
        (True, False)
    """
    norms = [layer for layer in model.modules() if isinstance(layer, _BatchNorm)]
    if not norms:
        return
    with _cumulative_statistics(model, norms):
        for batch in loader:
            inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
            model(inputs if device is None else inputs.to(device))


@contextmanager
def _cumulative_statistics(model: Module, norms: list[_BatchNorm]) -> Iterator[None]:
    """Within the block: ``model`` in training mode, and every layer of ``norms`` with fresh
    running statistics that average all batches equally (``momentum=None``). On exit the
    layers' momenta and the model's mode are what they were."""
    momenta = [layer.momentum for layer in norms]
    mode = model.training
    for layer in norms:
        layer.reset_running_stats()
        layer.momentum = None
    model.train()
    try:
        yield
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum
        model.train(mode)


def _linear_shape(t: float) -> float:
    return t


def _cosine_shape(t: float) -> float:
    return (1 - math.cos(math.pi * t)) / 2


@register_scheduler("swalr", description="anneal each group's lr to a constant swa_lr (for SWA)", torch_name="SWALR")
class SWALR(LRScheduler):
    r"""Anneals every group's learning rate to a constant ``swa_lr``, for stochastic weight averaging.

    Counting the steps taken since construction (:math:`s = 0` at construction), with :math:`E` =
    ``anneal_epochs`` and the progress :math:`t_s = \min(1, \max(0, s / \max(1, E)))`, the
    learning rate of a group that started the annealing at :math:`\eta_0` is

    .. math::
        \eta_s = \alpha(t_s) \, \eta_{\text{swa}} + \big(1 - \alpha(t_s)\big) \, \eta_0,
        \qquad
        \alpha(t) = \begin{cases} \tfrac{1}{2}\,(1 - \cos \pi t) & \texttt{"cos"} \\
                                    t & \texttt{"linear"} \end{cases}

    so it reaches :math:`\eta_{\text{swa}}` after :math:`E` steps and stays there (with
    :math:`E = 0` the first step already sets it). Like torch, each step recovers :math:`\eta_0`
    from the group's *current* learning rate, :math:`\eta_0 = (\eta_{s-1} - \alpha_{s-1}
    \eta_{\text{swa}}) / (1 - \alpha_{s-1})`, so the anneal starts from whatever learning rate the
    group has when this scheduler first steps (for example one left by a cosine schedule that ran
    until the averaging began), and the floats match torch's bit for bit.

    For the same reason there is no closed form from the base learning rates: :meth:`lr_at` is not
    defined, and resuming with ``last_epoch >= 0`` needs ``initial_lr`` in the groups, as in torch.
    ``group["swa_lr"]`` is written to every parameter group at construction.

    Args:
        optimizer (Optimizer): the optimizer (torch's or optimkit's).
        swa_lr (float or list): the final learning rate, for all groups or one per group.
        anneal_epochs (int): number of steps of the annealing phase, ``>= 0`` (default: 10).
        anneal_strategy (str): ``"cos"`` or ``"linear"`` (default: ``"cos"``).
        last_epoch (int): index of the last step taken; ``-1`` (default) starts afresh.

    Raises:
        ValueError: when ``swa_lr`` is a list of the wrong length, ``anneal_strategy`` is neither
            ``"cos"`` nor ``"linear"``, or ``anneal_epochs`` is not a non-negative ``int``.

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> from optimkit.optim.swa_utils import SWALR
        >>> opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = SWALR(opt, swa_lr=0.2, anneal_epochs=2, anneal_strategy="linear")
        >>> lrs = []
        >>> for _ in range(3):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(sched.get_last_lr()[0], 12))
        >>> lrs
        [0.6, 0.2, 0.2]
        >>> opt.param_groups[0]["swa_lr"]
        0.2
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        swa_lr: float,
        anneal_epochs: int = 10,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        last_epoch: int = -1,
    ) -> None:
        # Same order of checks as torch: the swa_lr values reach the groups before the other checks.
        for group, value in zip(optimizer.param_groups, _per_group("swa_lr", optimizer, swa_lr), strict=True):
            group["swa_lr"] = value
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return _linear_shape(t)

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return _cosine_shape(t)

    @staticmethod
    def _get_initial_lr(lr: Any, swa_lr: Any, alpha: float) -> Any:
        """Invert one annealing step: the starting lr that gives ``lr`` at progress ``alpha``."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: Literal["cos", "linear"]) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func: Callable[[float], float] = (
            self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal
        )

    def _progress(self, step: int) -> float:
        return max(0, min(1, step / max(1, self.anneal_epochs)))

    def get_lr(self) -> list[Any]:
        """The learning rates of the next step, from the groups' current ones (see the class)."""
        _warn_unless_in_step(self)
        step = self._step_count - 1  # 0 for the step taken by the constructor
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(self._progress(step - 1))
        alpha = self.anneal_func(self._progress(step))
        groups = self.optimizer.param_groups
        starts = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha) for group in groups]
        return [group["swa_lr"] * alpha + start * (1 - alpha) for group, start in zip(groups, starts, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state without the optimizer and the annealing function (which is
        rebuilt from ``_anneal_strategy``), with torch's keys so checkpoints load in either class."""
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict` (ours or torch's)."""
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
