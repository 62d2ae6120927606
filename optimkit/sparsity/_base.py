"""The base class of every sparsity algorithm: masks, applying them, hooks and state dicts.

A :class:`SparsityAlgorithm` keeps one bool mask per sparsified parameter (``True``: kept) and
holds three tensors to it after every optimizer step: the parameter, its gradient, and each
per-parameter state the optimizer names in ``state_names_to_sparsify()`` (for an optimizer
without that method, torch's own: every state tensor shaped like the parameter). The pruned
entries of all three are exactly zero after each :meth:`SparsityAlgorithm.step`.

The hooks it registers on the optimizer (:meth:`~SparsityAlgorithm.remove` takes them away):

* a step pre-hook that zeroes the pruned entries of the gradients before the update, so that no
  optimizer reads them: element-wise ones would only move entries that are zeroed afterwards,
  but Lamb's trust ratio, Adafactor's factored moments and Muon's orthogonalization mix entries.
  (RigL first keeps the dense gradient: it regrows where it is largest.)
* with ``auto_step``, a step post-hook that calls :meth:`~SparsityAlgorithm.step`;
* state-dict hooks that carry the algorithm's state in the optimizer's ``state_dict()`` under
  the key ``"sparsity"`` and load it back with ``load_state_dict()`` (torch's optimizers ignore
  the extra key), so saving and loading the optimizer resumes the masks, the step count and the
  random stream as well.

Subclasses (:mod:`._algorithms`) say what level a step wants and how a mask changes: see
:meth:`SparsityAlgorithm.target_sparsity`, :meth:`SparsityAlgorithm.is_update_step` and
:meth:`SparsityAlgorithm.update_mask`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor
from torch.utils.hooks import RemovableHandle

from .._binder import ConfigError
from ..registry import SPARSITY, SPARSITY_NAMESPACES
from ._checks import fraction, integer
from ._masks import keep_largest, magnitude, pruned_count
from ._params import ParamFilter, select

__all__ = ["SparsityAlgorithm", "attached", "STATE_KEY"]

STATE_KEY = "sparsity"
"""The key of the algorithm's state in its optimizer's ``state_dict()``."""

# Where an optimizer's sparsity lives (one per optimizer): an attribute, not a module-level
# table, so that the optimizer and its algorithm (which refer to each other through the hooks)
# are collected together.
_ATTRIBUTE = "_optimkit_sparsity"

InitMethod = Literal["magnitude", "topk", "random"]


def attached(optimizer: torch.optim.Optimizer) -> SparsityAlgorithm | None:
    """The sparsity algorithm configured on ``optimizer`` (by :func:`~optimkit.sparsity.configure`
    or a config's ``sparsity`` section), or ``None``.

    Example:
        >>> import torch
        >>> from optimkit import config, sparsity
        >>> model = torch.nn.Linear(8, 4)
        >>> opt, _ = config.load({"optimizer": {"name": "SGD", "lr": 0.1},
        ...                       "sparsity": {"algorithm": "static", "sparsity": 0.75}}, model.parameters())
        >>> algorithm = sparsity.attached(opt)
        >>> type(algorithm).__name__, algorithm.auto_step, int((model.weight == 0).sum())
        ('Static', True, 24)
    """
    return getattr(optimizer, _ATTRIBUTE, None)


class SparsityAlgorithm:
    """Masks for some of an optimizer's parameters, kept on the parameters, their gradients and
    the optimizer's per-parameter state (see the module docstring).

    Build one with :func:`~optimkit.sparsity.configure` (from a mapping, by algorithm name) or
    with a subclass directly; call :meth:`step` after every ``optimizer.step()`` (or pass
    ``auto_step=True``). The masks are made and applied when the algorithm is built.

    Args:
        optimizer: the optimizer whose parameters are masked (one algorithm per optimizer).
        sparsity: the fraction of entries pruned in each sparsified parameter, in ``[0, 1)``
            (GMP: the final one).
        params: which parameters: ``None`` for those with 2 or more dimensions; glob patterns
            over names (``!`` excludes), parameters, or a ``(name, p) -> bool`` callable (see
            :mod:`optimkit.sparsity`). ``param_filter`` in a config means the same.
        init_method: how the first mask is chosen: ``"magnitude"`` (alias ``"topk"``, keep the
            largest ``|w|``) or ``"random"`` (uniformly, from ``seed``).
        seed: the seed of the algorithm's own random stream (random masks, SET's regrowth);
            the global one is never touched.
        names: parameter names when the optimizer's groups have none: a module (its
            ``named_parameters()``) or a ``{name: parameter}`` mapping.
        auto_step: call :meth:`step` from a step post-hook after every ``optimizer.step()``.

    Attributes:
        optimizer: the optimizer.
        param_names: sparsified parameter -> its name (``None`` without one), in optimizer order.
        step_count: optimizer steps seen (:meth:`step` calls); 0 at configure time.
        auto_step: whether :meth:`step` runs by itself after every optimizer step.
    """

    #: Whether :meth:`update_mask` reads the dense gradient of the step (RigL).
    needs_dense_gradients: ClassVar[bool] = False

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        sparsity: float,
        params: ParamFilter | None = None,
        init_method: InitMethod = "magnitude",
        seed: int = 0,
        names: torch.nn.Module | Mapping[str, Tensor] | None = None,
        auto_step: bool = False,
    ) -> None:
        self._setup(optimizer, sparsity=sparsity, params=params, init_method=init_method, seed=seed, names=names)
        self._start(auto_step=auto_step)

    # ------------------------------------------------------------------------------ building
    def _setup(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        sparsity: float,
        params: ParamFilter | None = None,
        init_method: InitMethod = "magnitude",
        seed: int = 0,
        names: torch.nn.Module | Mapping[str, Tensor] | None = None,
        params_key: str = "params",
        **options: Any,
    ) -> None:
        """Check every argument and pick the parameters; changes nothing outside ``self``
        (a config's search for further mistakes runs this alone).

        Raises:
            ConfigError: (a ``ValueError``) at the key of the first bad argument.
        """
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"a sparsity algorithm needs a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.sparsity = fraction(sparsity, ("sparsity",))
        if init_method not in ("magnitude", "topk", "random"):
            raise ConfigError(f"init_method={init_method!r} must be one of 'magnitude', 'topk', 'random'",
                              path=("init_method",), choices=["magnitude", "topk", "random"])
        self.init_method = "magnitude" if init_method == "topk" else init_method
        self.seed = integer(seed, ("seed",), minimum=0)
        self._configure(**options)
        self._selected = select(optimizer, params, names, path=(params_key,))
        positions = {id(p): i for i, (_, p) in enumerate(_all_parameters(optimizer))}
        self._index = {p: positions[id(p)] for _, p in self._selected}
        self.param_names = {p: n for n, p in self._selected}
        self.step_count = 0
        self.auto_step = False
        self._masks: dict[Tensor, Tensor] = {}
        self._pruned: dict[Tensor, Tensor] = {}
        self._scores: dict[Tensor, Tensor] = {}
        self._handles: list[RemovableHandle] = []
        self._pending: dict[str, Any] | None = None
        self._generator = torch.Generator().manual_seed(self.seed)

    def _configure(self, **options: Any) -> None:
        """Check and keep the subclass's own arguments (none here)."""
        if options:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s): {', '.join(options)}")

    def _start(self, *, auto_step: bool) -> None:
        """Make and apply the first masks and register the hooks."""
        if attached(self.optimizer) is not None:
            raise ValueError("this optimizer already has a sparsity algorithm; call .remove() on "
                             "optimkit.sparsity.attached(optimizer) first")
        level = self.target_sparsity(0)
        with torch.no_grad():
            for _, p in self._selected:
                self._set_mask(p, self.initial_mask(p, level))
        self.apply()
        opt = self.optimizer
        self._handles = [
            opt.register_step_pre_hook(self._before_step),
            opt.register_state_dict_post_hook(self._save_into),
            opt.register_load_state_dict_pre_hook(self._take_from),
            opt.register_load_state_dict_post_hook(self._load_taken),
        ]
        if auto_step:
            self._handles.append(opt.register_step_post_hook(lambda *_: self.step()))
        self.auto_step = auto_step
        setattr(opt, _ATTRIBUTE, self)

    def remove(self) -> None:
        """Unregister the hooks and forget the optimizer's link to this algorithm; the
        parameters keep their zeros, and nothing is masked any more."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if attached(self.optimizer) is self:
            delattr(self.optimizer, _ATTRIBUTE)

    @property
    def name(self) -> str:
        """The registry name of the algorithm (``"gmp"``); the class name for an unregistered one."""
        spec = SPARSITY.spec_for(type(self), SPARSITY_NAMESPACES)
        return spec.name if spec is not None else type(self).__name__.lower()

    # ----------------------------------------------------------------------- subclass points
    def target_sparsity(self, step: int) -> float:
        """The level the masks should hold after ``step`` optimizer steps (0: configure time)."""
        return self.sparsity

    def is_update_step(self, step: int) -> bool:
        """Whether the masks change after optimizer step ``step`` (never, here)."""
        return False

    def initial_mask(self, p: Tensor, level: float) -> Tensor:
        """The mask of ``p`` at configure time: ``level`` pruned by ``init_method``."""
        keep = p.numel() - pruned_count(p.numel(), level)
        if self.init_method == "random":
            score = torch.rand(p.shape, generator=self._generator).to(p.device)
        else:
            score = magnitude(p)
        return keep_largest(score, keep)

    def update_mask(self, p: Tensor, mask: Tensor, step: int) -> Tensor:
        """The new mask of ``p`` at update step ``step`` (unchanged, here)."""
        return mask

    # -------------------------------------------------------------------------------- masks
    @property
    def masks(self) -> dict[Tensor, Tensor]:
        """Parameter -> bool mask (``True``: kept), a new dict each time (the masks are not
        changed in place: an update makes new ones)."""
        return dict(self._masks)

    def _set_mask(self, p: Tensor, mask: Tensor) -> None:
        mask = mask.to(device=p.device, dtype=torch.bool)
        self._masks[p] = mask
        self._pruned[p] = ~mask

    @property
    def current_sparsity(self) -> float:
        """The level the schedule has reached (:meth:`target_sparsity` at :attr:`step_count`)."""
        return self.target_sparsity(self.step_count)

    def actual_sparsity(self) -> float:
        """The fraction of pruned entries over all sparsified parameters (0 without any)."""
        total = sum(m.numel() for m in self._masks.values())
        pruned = sum(int(m.sum()) for m in self._pruned.values())
        return pruned / total if total else 0.0

    def _state_names(self) -> list[str] | None:
        """The optimizer's ``state_names_to_sparsify()``, or ``None`` when it has no such method
        (torch's optimizers). Asked at every apply: the answer follows the groups' options
        (``amsgrad`` adds a state), which a loaded state dict may change."""
        names = getattr(self.optimizer, "state_names_to_sparsify", None)
        return list(names()) if callable(names) else None

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned entries of every sparsified parameter, its gradient and its
        optimizer states (those ``state_names_to_sparsify()`` names that are shaped like it;
        every state shaped like it for an optimizer without that method)."""
        names = self._state_names()
        state = self.optimizer.state
        for p, pruned in self._pruned.items():
            p.masked_fill_(pruned, 0)
            if p.grad is not None and not p.grad.is_sparse:
                p.grad.masked_fill_(pruned, 0)
            p_state = state.get(p)
            if not p_state:
                continue
            for key in names if names is not None else list(p_state):
                value = p_state.get(key)
                if isinstance(value, Tensor) and value.shape == p.shape and value.dim() > 0:
                    value.masked_fill_(pruned, 0)

    @torch.no_grad()
    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        update = self.needs_dense_gradients and self.is_update_step(self.step_count + 1)
        for p, pruned in self._pruned.items():
            grad = p.grad
            if grad is None or grad.is_sparse:
                continue
            if update:
                self._scores[p] = magnitude(grad).clone()
            grad.masked_fill_(pruned, 0)

    @torch.no_grad()
    def step(self) -> None:
        """Advance one optimizer step: change the masks if this is an update step, then apply
        them. Call it after every ``optimizer.step()`` (unless ``auto_step``)."""
        self.step_count += 1
        if self.is_update_step(self.step_count):
            for p, mask in list(self._masks.items()):
                self._set_mask(p, self.update_mask(p, mask, self.step_count))
        self._scores.clear()
        self.apply()

    # --------------------------------------------------------------------------- state dicts
    def state_dict(self) -> dict[str, Any]:
        """The algorithm's state: its name, the step count, the masks (by the parameter's index
        in the optimizer's ``state_dict``) and its random stream.

        Example:
            >>> import torch
            >>> from optimkit.optim import SGD
            >>> from optimkit.sparsity import configure
            >>> model = torch.nn.Linear(4, 2)
            >>> algorithm = configure(SGD(model.parameters(), lr=0.1), {"algorithm": "static", "sparsity": 0.5})
            >>> state = algorithm.state_dict()
            >>> state["algorithm"], state["step"], {i: m.shape for i, m in state["masks"].items()}
            ('static', 0, {0: torch.Size([2, 4])})
        """
        return {
            "algorithm": self.name,
            "step": self.step_count,
            "masks": {self._index[p]: mask for p, mask in self._masks.items()},
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s masks, step count and random stream, and apply the masks.

        Raises:
            ValueError: the state of another algorithm, or masks for other parameters or of
                other shapes (nothing is changed then).
        """
        if not isinstance(state_dict, Mapping) or not {"algorithm", "step", "masks"} <= set(state_dict):
            raise ValueError("not a sparsity state dict: expected a dict with 'algorithm', 'step' and 'masks'")
        if state_dict["algorithm"] != self.name:
            raise ValueError(f"loaded sparsity state is of algorithm {state_dict['algorithm']!r}, this one is {self.name!r}")
        masks = state_dict["masks"]
        by_index = {i: p for p, i in self._index.items()}
        if not isinstance(masks, Mapping) or set(masks) != set(by_index):
            given = sorted(masks) if isinstance(masks, Mapping) else masks
            raise ValueError(f"loaded sparsity state masks parameters {given}, this algorithm masks "
                             f"{sorted(by_index)} (indices in the optimizer's state_dict)")
        for index, mask in masks.items():
            p = by_index[index]
            if not isinstance(mask, Tensor) or mask.shape != p.shape:
                shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
                raise ValueError(f"loaded sparsity mask of parameter {index} has shape {shape}, expected {tuple(p.shape)}")
        step = integer(state_dict["step"], ("step",), minimum=0)
        generator = state_dict.get("generator")
        if generator is not None and not (isinstance(generator, Tensor) and generator.dtype == torch.uint8):
            raise ValueError(f"loaded sparsity state: 'generator' must be a uint8 tensor (torch.Generator.get_state()), "
                             f"got {type(generator).__name__}")
        for index, mask in masks.items():
            self._set_mask(by_index[index], mask.detach().clone())
        self.step_count = step
        if generator is not None:
            self._generator.set_state(generator.clone())
        self._scores.clear()
        self.apply()

    def _save_into(self, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        state_dict[STATE_KEY] = self.state_dict()
        return state_dict

    def _take_from(self, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        # Taken out before the optimizer's own loader sees the dict, loaded after it succeeded
        # (so the loaded optimizer states get masked too).
        state_dict = dict(state_dict)
        self._pending = state_dict.pop(STATE_KEY, None)
        return state_dict

    def _load_taken(self, optimizer: torch.optim.Optimizer) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.load_state_dict(pending)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(sparsity={self.sparsity}, params={len(self._masks)}, "
                f"step={self.step_count}, auto_step={self.auto_step})")


def _all_parameters(optimizer: torch.optim.Optimizer) -> list[tuple[None, Tensor]]:
    return [(None, p) for group in optimizer.param_groups for p in group["params"]]

