"""The registered sparsity algorithms: static, GMP, SET and RigL.

Each is a :class:`~optimkit.sparsity.SparsityAlgorithm` whose constructor signature is its
declaration: the config keys a ``sparsity`` section (or :func:`~optimkit.sparsity.configure`)
takes for it are its keyword arguments, checked and coerced by optimkit's one binder.

Every sparsified parameter gets the same level (a uniform distribution, as Cerebras' default),
counted per tensor: :math:`\\lfloor s n + 1/2 \\rfloor` of its :math:`n` entries are pruned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor

from .._binder import ConfigError, bind
from ..registry import register_sparsity
from ._base import InitMethod, SparsityAlgorithm
from ._checks import WORDING, fraction, within
from ._masks import drop_smallest, grow_largest, keep_largest, magnitude, pruned_count
from ._params import ParamFilter
from ._schedules import GMPSchedule, UpdateSchedule, cosine_decay

__all__ = ["GMP", "RigL", "SET", "Static"]


@register_sparsity("static", description="One fixed mask, chosen at configure time (by magnitude or at random)")
class Static(SparsityAlgorithm):
    """Static sparsity: the mask is chosen once, when the algorithm is configured, and kept.

    ``sparsity`` of every sparsified parameter's entries are pruned: those of smallest
    magnitude (``init_method="magnitude"``: one-shot magnitude pruning, for a trained model) or
    a uniformly random set (``"random"``: a fixed random sparse network, as Cerebras' default).

    Example:
        >>> import torch
        >>> from optimkit.optim import AdamW
        >>> from optimkit.sparsity import Static
        >>> model = torch.nn.Linear(10, 10)
        >>> opt = AdamW(model.parameters(), lr=1e-2)
        >>> algorithm = Static(opt, sparsity=0.9)
        >>> model(torch.randn(4, 10)).pow(2).mean().backward()
        >>> opt.step(); algorithm.step()
        >>> int((model.weight != 0).sum()), int((opt.state[model.weight]["exp_avg"] != 0).sum()) <= 10
        (10, True)
    """


@register_sparsity("gmp", description="Gradual magnitude pruning (Zhu & Gupta 2017): cubic ramp to the target")
class GMP(SparsityAlgorithm):
    """Gradual magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune").

    The sparsity rises from ``schedule.initial_sparsity`` :math:`s_i` to ``sparsity``
    :math:`s_f` along a cubic, pruning every :math:`\\Delta t` = ``schedule.freq`` steps from
    :math:`t_0` = ``schedule.start`` to ``schedule.end`` = :math:`t_0 + n\\Delta t`:

    .. math::

        s_t = s_f + (s_i - s_f) \\left(1 - \\frac{t - t_0}{n \\Delta t}\\right)^3

    Fast at first, while many small weights are redundant, and slowly near the end, so the
    network recovers from each cut. At a pruning step the kept entries of smallest magnitude
    are pruned until :math:`\\lfloor s_t n + 1/2 \\rfloor` are; a pruned entry never comes back.
    The mask of configure time holds :math:`s_i` (chosen by ``init_method``).

    Args:
        schedule: a :class:`~optimkit.sparsity.GMPSchedule` or its mapping: ``end`` (required),
            ``start`` (0), ``freq`` (1), ``initial_sparsity`` (0.0).

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> from optimkit.sparsity import GMP
        >>> model = torch.nn.Linear(10, 10)
        >>> opt = SGD(model.parameters(), lr=0.1)
        >>> gmp = GMP(opt, sparsity=0.8, schedule={"end": 4})
        >>> levels = []
        >>> for _ in range(5):
        ...     model(torch.randn(4, 10)).pow(2).mean().backward()
        ...     opt.step(); opt.zero_grad(); gmp.step()
        ...     levels.append(gmp.actual_sparsity())
        >>> levels
        [0.46, 0.7, 0.79, 0.8, 0.8]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        sparsity: float,
        schedule: GMPSchedule | Mapping[str, Any],
        params: ParamFilter | None = None,
        init_method: InitMethod = "magnitude",
        seed: int = 0,
        names: torch.nn.Module | Mapping[str, Tensor] | None = None,
        auto_step: bool = False,
    ) -> None:
        self._setup(optimizer, sparsity=sparsity, params=params, init_method=init_method, seed=seed, names=names,
                    schedule=schedule)
        self._start(auto_step=auto_step)

    def _configure(self, *, schedule: GMPSchedule | Mapping[str, Any]) -> None:  # type: ignore[override]
        if isinstance(schedule, Mapping):
            schedule = within(("schedule",), lambda: GMPSchedule(**bind(GMPSchedule, schedule, wording=WORDING)))
        elif not isinstance(schedule, GMPSchedule):
            raise ConfigError(f"schedule={schedule!r} must be a mapping with 'end' (and 'start', 'freq', "
                              "'initial_sparsity') or a GMPSchedule", path=("schedule",))
        schedule.check_final(self.sparsity)
        self.schedule = schedule

    def target_sparsity(self, step: int) -> float:
        return self.schedule.sparsity_at(step, final=self.sparsity)

    def is_update_step(self, step: int) -> bool:
        return self.schedule.is_update_step(step)

    def update_mask(self, p: Tensor, mask: Tensor, step: int) -> Tensor:
        keep = p.numel() - pruned_count(p.numel(), self.target_sparsity(step))
        return keep_largest(magnitude(p), min(keep, int(mask.sum())), among=mask)


class _DropAndGrow(SparsityAlgorithm):
    """Dynamic sparse training at a constant level: at every update step, drop the
    ``drop_fraction`` of kept entries with the smallest magnitude and grow as many pruned ones
    (by :meth:`grow_scores`). Grown entries start at zero, as does their optimizer state (an
    entry dropped and grown back at the same update keeps its value, as in RigL's code)."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        sparsity: float,
        drop_fraction: float = 0.3,
        drop_fraction_decay: Literal["constant", "cosine"] = "constant",
        update: UpdateSchedule | Mapping[str, Any] | None = None,
        params: ParamFilter | None = None,
        init_method: InitMethod = "magnitude",
        seed: int = 0,
        names: torch.nn.Module | Mapping[str, Tensor] | None = None,
        auto_step: bool = False,
    ) -> None:
        # One signature for SET and RigL (the config binder reads it): they differ in grow_scores.
        self._setup(optimizer, sparsity=sparsity, params=params, init_method=init_method, seed=seed, names=names,
                    drop_fraction=drop_fraction, drop_fraction_decay=drop_fraction_decay, update=update)
        self._start(auto_step=auto_step)

    def _configure(  # type: ignore[override]
        self,
        *,
        drop_fraction: float,
        drop_fraction_decay: Literal["constant", "cosine"],
        update: UpdateSchedule | Mapping[str, Any] | None,
    ) -> None:
        self.drop_fraction = fraction(drop_fraction, ("drop_fraction",), above_zero=True, up_to_one=True)
        if update is None:
            update = UpdateSchedule()
        elif isinstance(update, Mapping):
            update = within(("update",), lambda: UpdateSchedule(**bind(UpdateSchedule, update, wording=WORDING)))
        elif not isinstance(update, UpdateSchedule):
            raise ConfigError(f"update={update!r} must be a mapping of 'freq', 'start', 'stop' or an UpdateSchedule",
                              path=("update",))
        if drop_fraction_decay not in ("constant", "cosine"):
            raise ConfigError(f"drop_fraction_decay={drop_fraction_decay!r} must be one of 'constant', 'cosine'",
                              path=("drop_fraction_decay",), choices=["constant", "cosine"])
        if drop_fraction_decay == "cosine" and update.stop is None:
            raise ConfigError("drop_fraction_decay='cosine' decays to 0 at update.stop: give update.stop",
                              path=("drop_fraction_decay",))
        self.update = update
        self.drop_fraction_decay = drop_fraction_decay

    def is_update_step(self, step: int) -> bool:
        return self.update.is_update_step(step)

    def drop_fraction_at(self, step: int) -> float:
        """The fraction of kept entries moved at update step ``step``."""
        if self.drop_fraction_decay == "cosine":
            assert self.update.stop is not None
            return cosine_decay(self.drop_fraction, step, self.update.start, self.update.stop)
        return self.drop_fraction

    def grow_scores(self, p: Tensor) -> Tensor | None:
        """Where to grow in ``p`` (highest first); ``None`` skips ``p`` at this update."""
        raise NotImplementedError

    def update_mask(self, p: Tensor, mask: Tensor, step: int) -> Tensor:
        scores = self.grow_scores(p)
        if scores is None:
            return mask
        count = pruned_count(int(mask.sum()), self.drop_fraction_at(step))
        if count == 0:
            return mask
        return grow_largest(scores, drop_smallest(p, mask, count), count)


@register_sparsity("set", description="Sparse Evolutionary Training (Mocanu et al. 2018): drop smallest, regrow at random")
class SET(_DropAndGrow):
    """Sparse Evolutionary Training (Mocanu et al. 2018).

    The level stays at ``sparsity``; every ``update.freq`` steps the ``drop_fraction`` of kept
    entries with the smallest magnitude are pruned and as many pruned entries, drawn uniformly
    from the algorithm's own random stream (``seed``), grow back, at zero.

    Args:
        drop_fraction: the fraction of kept entries moved at an update, in ``(0, 1]``.
        drop_fraction_decay: ``"constant"``, or ``"cosine"`` down to 0 at ``update.stop``.
        update: an :class:`~optimkit.sparsity.UpdateSchedule` or its mapping: ``freq`` (100),
            ``start`` (0), ``stop`` (``None``).

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> from optimkit.sparsity import SET
        >>> model = torch.nn.Linear(10, 10)
        >>> opt = SGD(model.parameters(), lr=0.1)
        >>> algorithm = SET(opt, sparsity=0.5, update={"freq": 1})
        >>> before = algorithm.masks[model.weight]
        >>> model(torch.randn(4, 10)).pow(2).mean().backward()
        >>> opt.step(); algorithm.step()
        >>> after = algorithm.masks[model.weight]
        >>> int(after.sum()), bool((after != before).any())    # as many kept, some of them others
        (50, True)
    """

    def grow_scores(self, p: Tensor) -> Tensor:
        return torch.rand(p.shape, generator=self._generator).to(p.device)


@register_sparsity("rigl", description="Rigging the Lottery (Evci et al. 2020): drop smallest, regrow largest gradients")
class RigL(_DropAndGrow):
    """Rigging the Lottery (Evci et al. 2020).

    As :class:`SET`, but the pruned entries that grow back are those where the dense gradient
    of the update step, :math:`|\\nabla_w L|`, is largest: the connections that would lower the
    loss fastest. The gradient is read before its pruned entries are zeroed (the step
    pre-hook), so ``grad`` must be set when ``optimizer.step()`` runs; a parameter without one
    keeps its mask at that update. RigL's paper decays the drop fraction along a cosine
    (``drop_fraction_decay="cosine"`` with ``update.stop``, e.g. 75% of training).

    Args:
        drop_fraction: the fraction of kept entries moved at an update, in ``(0, 1]``.
        drop_fraction_decay: ``"constant"``, or ``"cosine"`` down to 0 at ``update.stop``.
        update: an :class:`~optimkit.sparsity.UpdateSchedule` or its mapping: ``freq`` (100),
            ``start`` (0), ``stop`` (``None``).

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> from optimkit.sparsity import RigL
        >>> model = torch.nn.Linear(10, 10)
        >>> opt = SGD(model.parameters(), lr=0.1)
        >>> algorithm = RigL(opt, sparsity=0.5, update={"freq": 1, "stop": 100}, drop_fraction_decay="cosine")
        >>> model(torch.randn(4, 10)).pow(2).mean().backward()
        >>> opt.step(); algorithm.step()
        >>> int(algorithm.masks[model.weight].sum()), round(algorithm.drop_fraction_at(50), 2)
        (50, 0.15)
    """

    needs_dense_gradients = True

    def grow_scores(self, p: Tensor) -> Tensor | None:
        return self._scores.get(p)
