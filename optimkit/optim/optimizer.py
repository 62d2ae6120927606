"""The base class of every optimkit optimizer.

:class:`Optimizer` is a real subclass of :class:`torch.optim.Optimizer`: parameter groups,
``state_dict``/``load_state_dict``, hooks and ``zero_grad`` are torch's own, so torch's schedulers,
``GradScaler``, Lightning and the Hugging Face Trainer accept an optimkit optimizer as they accept
torch's. What it adds, for every algorithm:

* a generic ``step()``: collect the parameters that have a gradient, create their state, and hand
  the group to the algorithm's single rule through the executor (:mod:`._executor`);
* ``preinitialize()``: create every per-parameter state before the first step (the Cerebras API),
  so the first step allocates nothing and a traced or compiled step sees a fixed set of tensors;
* ``state_names_to_sparsify()``: the per-parameter states shaped like their parameter, which a
  sparsity algorithm must mask together with the weights;
* an opt-in global step counter: ``enable_global_step = True`` and ``increment_global_step(p)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor

from ._executor import check_fused_device, default_foreach, differentiable_grad_mode, execute

__all__ = ["Optimizer", "ParamsT"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]

# Per-parameter key of the opt-in global step. torch-compatible optimizers already own "step"
# with torch's meaning (Adam's bias-correction count), so the global counter lives beside it
# instead of double-counting into it.
GLOBAL_STEP_KEY = "global_step"


def scalar_step_tensor(p: Tensor, *, on_device: bool, fused: bool = False) -> Tensor:
    """torch's ``step`` state: a 0-dim tensor on the CPU, or on ``p``'s device for capturable or
    fused optimizers (torch keeps it off the accelerator otherwise, to save kernel launches).

    Its dtype is float32, or float64 when that is the default dtype (never for fused kernels).
    """
    if fused:
        dtype = torch.float32
    else:
        dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    if on_device:
        return torch.zeros((), dtype=dtype, device=p.device)
    return torch.tensor(0.0, dtype=dtype, device="cpu")


class Optimizer(torch.optim.Optimizer):
    """Base class: a :class:`torch.optim.Optimizer` whose ``step`` runs one rule per algorithm.

    A subclass provides:

    * ``_rule``: the algorithm, a function over lists of tensors (see :mod:`._executor`);
    * ``_init_state(group, p)``: the fresh state of one parameter, as a dict (may be empty);
    * ``_state_keys(group)``: which state entries the rule takes, as lists, in order;
    * ``_hyperparameters(group)``: the rule's scalar arguments taken from the group.

    It may override ``_update_group`` when its rule needs more than that (fused kernels).

    Args:
        params: tensors, dicts of parameter groups, or (name, tensor) pairs, as in torch.
        defaults: the default value of every option of a parameter group.
        enable_global_step: keep a per-parameter float32 step counter under
            ``state[p]["global_step"]``, advanced once per ``step()`` for each parameter with a
            gradient (the Cerebras optimizers' global step). Can also be switched on later by
            setting the attribute of the same name.

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> opt.preinitialize()
        >>> sorted(opt.state[w])
        ['momentum_buffer']
        >>> opt.state_names_to_sparsify()
        ['momentum_buffer']
    """

    _rule: ClassVar[Callable[..., None]]
    # Group options an old checkpoint may lack, with the value to fill in on unpickling.
    _group_option_defaults: ClassVar[dict[str, Any]] = {}
    # 0-dim counters (``step``, ...) that checkpoints from older torch releases stored as numbers.
    _counter_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: ParamsT, defaults: dict[str, Any], *, enable_global_step: bool = False) -> None:
        super().__init__(params, defaults)
        self.enable_global_step = enable_global_step
        # Parameters whose state exists but has not been through a step yet (see _first_step_flags).
        self._unstepped: set[Tensor] = set()

    def __getstate__(self) -> dict[str, Any]:
        # torch pickles defaults, state and param_groups only; keep our additions too. Pickle and
        # deepcopy memoise tensors, so `_unstepped` still names the copied parameters.
        return {**super().__getstate__(), "enable_global_step": self.enable_global_step, "_unstepped": self._unstepped}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("enable_global_step", False)
        self.__dict__.setdefault("_unstepped", set())
        for group in self.param_groups:
            for key, default in self._group_option_defaults.items():
                group.setdefault(key, default)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                for key in self._counter_keys:
                    if key in p_state and not torch.is_tensor(p_state[key]):
                        p_state[key] = self._counter_tensor(group, p, key).fill_(float(p_state[key]))

    def _counter_tensor(self, group: dict[str, Any], p: Tensor, key: str) -> Tensor:
        """A fresh 0-dim tensor for counter ``key`` of ``p``: torch's ``step`` placement (on the
        parameter's device for capturable or fused groups, else on the CPU)."""
        fused = bool(group.get("fused"))
        return scalar_step_tensor(p, on_device=bool(group.get("capturable")) or fused, fused=fused)

    # ----------------------------------------------------------------------------- subclass API
    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        """The state of ``p`` before its first step. Default: no state."""
        return {}

    def _state_keys(self, group: dict[str, Any]) -> list[str]:
        """The state entries the rule receives as per-parameter lists, in order."""
        return []

    def _hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        """The scalar keyword arguments of the rule for ``group``."""
        return {}

    def _check_param(self, group: dict[str, Any], p: Tensor) -> None:
        """Reject a parameter the algorithm cannot update (sparse gradients, ...)."""
        if p.grad is not None and p.grad.is_sparse:
            raise RuntimeError(
                f"{type(self).__name__} does not support sparse gradients"
            )

    # ------------------------------------------------------------------------------ machinery
    def _ensure_state(self, group: dict[str, Any], p: Tensor) -> None:
        if self.state.get(p):
            return
        if group.get("fused"):
            check_fused_device(p)
        fresh = self._init_state(group, p)
        if self.enable_global_step:
            fresh.setdefault(GLOBAL_STEP_KEY, torch.zeros((), dtype=torch.float32, device=p.device))
        if fresh:
            self.state[p].update(fresh)
            self._unstepped.add(p)

    def _first_step_flags(self, params: list[Tensor]) -> list[bool]:
        """For each parameter: is this the first step since its state was created?

        Only rules whose first step differs from a step on a zero state need this (SGD copies the
        gradient into a new momentum buffer instead of dampening it).
        """
        return [p in self._unstepped for p in params]

    def _use_foreach(self, group: dict[str, Any], params: list[Tensor]) -> bool:
        """torch's dispatch: an explicit ``foreach`` wins; with neither ``foreach`` nor ``fused``
        given, foreach on CUDA-like devices and a for-loop on the CPU (never when differentiable)."""
        foreach, fused = group.get("foreach"), group.get("fused")
        if foreach is None and fused is None:
            return default_foreach(params, group.get("differentiable", False))
        return bool(foreach)

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        """The per-parameter lists the rule takes besides params and grads: state entries."""
        return {key: [self.state[p][key] for p in params] for key in self._state_keys(group)}

    def _fused_update(self, group: dict[str, Any], params: list[Tensor], per_param: dict[str, list[Any]]) -> None:
        """Run torch's fused kernel for this algorithm (only classes that accept ``fused=True``)."""
        raise RuntimeError(f"{type(self).__name__} has no fused implementation")

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """Apply the rule to the parameters of ``group`` that have a gradient."""
        if not params:
            return
        per_param = self._per_param_lists(group, params)
        if group.get("fused"):
            self._fused_update(group, params, per_param)
            return
        execute(
            type(self)._rule,
            params,
            [p.grad for p in params],  # type: ignore[misc]
            per_param,
            self._hyperparameters(group),
            foreach=self._use_foreach(group, params),
            differentiable=group.get("differentiable", False),
        )

    def _params_with_grad(self, group: dict[str, Any]) -> list[Tensor]:
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            self._check_param(group, p)
        return params

    @differentiable_grad_mode
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimization step.

        Args:
            closure: re-evaluates the model and returns the loss; optional for most algorithms.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = self._params_with_grad(group)
            for p in params:
                self._ensure_state(group, p)
            self._update_group(group, params)
            for p in params:
                self._unstepped.discard(p)
                if self.enable_global_step:
                    self.increment_global_step(p)
        return loss

    # --------------------------------------------------------------------------- Cerebras API
    def preinitialize(self) -> None:
        """Create the state of every parameter now instead of at its first step.

        Afterwards the first ``step()`` adds no state entry, so a traced or compiled training step
        sees the same tensors from its first call on; its results equal those of lazy creation.

        Example:
            >>> import torch
            >>> from optimkit.optim import Adam
            >>> w = torch.nn.Parameter(torch.zeros(2))
            >>> opt = Adam([w])
            >>> opt.preinitialize()
            >>> sorted(opt.state[w])
            ['exp_avg', 'exp_avg_sq', 'step']
        """
        for group in self.param_groups:
            for p in group["params"]:
                self._ensure_state(group, p)

    def state_names_to_sparsify(self) -> list[str]:
        """Names of the per-parameter states shaped like their parameter, in creation order.

        A sparsity algorithm masks these together with the weights. The answer is worked out from
        the state each group would create, on the meta device, so nothing is allocated.
        """
        names: list[str] = []
        for group in self.param_groups:
            for p in group["params"][:1]:
                probe = torch.empty_like(p, device="meta")
                for name, value in self._init_state({**group, "fused": False, "capturable": False}, probe).items():
                    if isinstance(value, Tensor) and value.shape == p.shape and value.dim() > 0 and name not in names:
                        names.append(name)
        return names

    def increment_global_step(self, p: Tensor) -> Tensor:
        """Advance the global step of ``p`` by one and return it (a float32 0-dim tensor).

        ``step()`` calls this for every parameter with a gradient when ``enable_global_step`` is on.
        """
        state = self.state[p]
        if GLOBAL_STEP_KEY not in state:
            state[GLOBAL_STEP_KEY] = torch.zeros((), dtype=torch.float32, device=p.device)
        counter = state[GLOBAL_STEP_KEY]
        counter.add_(1)
        return counter

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``; loaded states count as already stepped."""
        super().load_state_dict(state_dict)
        self._unstepped.clear()
