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

import functools
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeAlias

import torch
import torch.optim.optimizer as _torch_optimizer_module
from torch import Tensor
from torch.utils.hooks import RemovableHandle

from ._declaration import group_options, number_options, ordered_options, rule_signature, strict_flags
from ._executor import (
    check_fused_device,
    default_foreach,
    differentiable_grad_mode,
    execute,
    fused_by_default,
    select,
    squeezed,
)
from ._flat import FlatStates, buffer_of, flattening_generation
from ._lean import compact_state, lean_update
from ._loading import GLOBAL_STEP_KEY, StateDictLoading

__all__ = [
    "Optimizer",
    "ParamsT",
    "register_optimizer_step_pre_hook",
    "register_optimizer_step_post_hook",
    "required",
]

ParamsT: TypeAlias = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
Args: TypeAlias = tuple[Any, ...]
Kwargs: TypeAlias = dict[str, Any]
StateDict: TypeAlias = dict[str, Any]
DeviceDict: TypeAlias = dict[torch.device | None, Tensor]
DeviceDtypeDict: TypeAlias = dict[tuple[torch.device, torch.dtype] | None, Tensor]
GlobalOptimizerPreHook: TypeAlias = Callable[[torch.optim.Optimizer, Args, Kwargs], tuple[Args, Kwargs] | None]
GlobalOptimizerPostHook: TypeAlias = Callable[[torch.optim.Optimizer, Args, Kwargs], None]

# A profiler range that costs next to nothing unless an observer records it (older torch: the
# documented context manager).
_profiler_range: Callable[[str], Any] = getattr(
    torch._C._profiler, "_RecordFunctionFast", torch.autograd.profiler.record_function
)

# torch's marker for a constructor argument without a default (``lr=required`` in old custom
# optimizers): the very same object, so ``lr is torch.optim.optimizer.required`` checks still hold.
required = _torch_optimizer_module.required


def _global_hooks(kind: str) -> dict[int, Callable[..., Any]]:
    # The step wrapper (Optimizer.profile_hook_step, torch's and optimkit's alike) reads these two
    # module-level dicts on each step. Registering into the very same dicts makes
    # a hook fire for torch's and optimkit's optimizers alike, whichever module registered it, and
    # torch's RemovableHandle removes it from there. Looked up on each call, not bound at import,
    # so a registry that torch (or a test) replaces is still the one used.
    return getattr(_torch_optimizer_module, f"_global_optimizer_{kind}_hooks")


def register_optimizer_step_pre_hook(hook: GlobalOptimizerPreHook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run before every optimizer's ``step``.

    It runs before the optimizer's own step pre-hooks and may return ``(new_args, new_kwargs)``.
    The registry is torch's: the hook runs for ``torch.optim`` optimizers too, like one registered
    with ``torch.optim.optimizer.register_optimizer_step_pre_hook``.

    Returns:
        a handle whose ``remove()`` unregisters the hook.

    Example:
        >>> import torch
        >>> from optimkit.optim import SGD
        >>> from optimkit.optim.optimizer import register_optimizer_step_pre_hook
        >>> seen = []
        >>> handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: seen.append(type(opt).__name__))
        >>> w = torch.nn.Parameter(torch.ones(2)); w.grad = torch.ones(2)
        >>> SGD([w], lr=0.1).step(); torch.optim.SGD([w], lr=0.1).step()
        >>> handle.remove()
        >>> seen
        ['SGD', 'SGD']
    """
    registry = _global_hooks("pre")
    handle = RemovableHandle(registry)
    registry[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook: GlobalOptimizerPostHook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run after every optimizer's ``step``.

    It runs after the optimizer's own step post-hooks. The registry is torch's, as for
    :func:`register_optimizer_step_pre_hook`.

    Returns:
        a handle whose ``remove()`` unregisters the hook.
    """
    registry = _global_hooks("post")
    handle = RemovableHandle(registry)
    registry[handle.id] = hook
    return handle



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


# What torch's fused kernels take for a numeric option.
_KERNEL_NUMBERS = (int, float, Tensor, torch.nn.Parameter)


def _has_state(state: dict[str, Any] | None) -> bool:
    """Whether a parameter's state holds the algorithm's entries (a global step alone does not)."""
    return bool(state) and (len(state) > 1 or GLOBAL_STEP_KEY not in state)  # type: ignore[arg-type]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _overflowed(found_inf: Tensor | None) -> bool:
    """Whether ``GradScaler`` found an inf or NaN among the gradients (its ``found_inf`` flag)."""
    return found_inf is not None and bool(found_inf)


class Optimizer(StateDictLoading):
    """Base class: a :class:`torch.optim.Optimizer` whose ``step`` runs one rule per algorithm.

    A subclass declares (see :mod:`._declaration` for what is read from these):

    * its constructor, whose signature is the list of group options with their defaults; it
      builds ``defaults`` with ``Cls._defaults_from_signature(locals())``;
    * ``_rule``: the algorithm, a function over lists of tensors (see :mod:`._executor`), whose
      list parameters name the state entries it takes and whose keyword-only parameters name
      the group options it reads;
    * ``_init_state(group, p)``: the fresh state of one parameter, as a dict (may be empty).

    It may override ``_update_group`` when its rule needs more than that (fused kernels), and
    ``_per_param_lists``/``_hyperparameters`` to add arguments that are not state or options.

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
    # Group options an old checkpoint may lack, with the value to fill in on unpickling: the
    # constructor's flags (set by `_declaration.register`), adjusted by `_old_checkpoint_fills`.
    _group_option_defaults: ClassVar[dict[str, Any]] = {}
    # Where torch's __setstate__ departs from filling every flag with its default: the value it
    # fills instead (or fills for an option that is no flag), or `_declaration.NOT_FILLED`.
    _old_checkpoint_fills: ClassVar[dict[str, Any]] = {}
    # Options whose order in torch's `defaults` dict differs from the signature's: listed in
    # torch's order, they trade places among themselves (see `_declaration.ordered_options`).
    _torch_defaults_order: ClassVar[tuple[str, ...]] = ()
    # Capabilities that no signature shows (registry flags; the checks of `_check_param`).
    _supports_complex: ClassVar[bool] = True
    _supports_sparse: ClassVar[bool] = False
    # Set by `_declaration.register` from the signature: whether a `foreach` path exists.
    _supports_foreach: ClassVar[bool] = True
    # Whether torch's fused CPU kernel runs the step when the user passed neither `foreach` nor
    # `fused` (see `_executor.fused_by_default`); `foreach=False` or `fused=False` keep the loop.
    _fused_by_default: ClassVar[bool] = False
    # Whether a step that ``GradScaler`` hands an overflow flag (``found_inf``, with fused=True)
    # is skipped here, on the host, rather than by the kernel (see SGD).
    _skips_overflow_on_host: ClassVar[bool] = False
    # Whether the rule is element-wise, so that parameters lying back to back in a flat buffer can
    # step as one tensor (not: Lamb's trust ratio, Adafactor's factored moments, Muon, LBFGS).
    _elementwise: ClassVar[bool] = False
    # Options of optimkit's own that torch's class lacks (``fused`` where torch has no kernel):
    # kept out of ``defaults``, and so of param_groups and state dicts, unless given.
    _own_options: ClassVar[tuple[str, ...]] = ()
    # The error for a sparse gradient, where torch words it otherwise than the default.
    _sparse_message: ClassVar[str | None] = None
    # The states that ``state_dtype`` may keep compact (see `_lean`), each with whether it takes
    # negative values (a first moment) or not (a second moment).
    _lean_states: ClassVar[dict[str, bool]] = {}

    def __init__(self, params: ParamsT, defaults: dict[str, Any], *, enable_global_step: bool = False) -> None:
        super().__init__(params, defaults)
        self.enable_global_step = enable_global_step
        # Parameters whose state exists but has not been through a step yet (see _first_step_flags).
        self._unstepped: set[Tensor] = set()
        self._flat_states = FlatStates()

    @staticmethod
    def profile_hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a class's ``step`` as torch does (``torch.optim.Optimizer`` applies this to every
        subclass's ``step`` on first construction): the global and the optimizer's step pre-hooks,
        the step, ``_optimizer_step_code``, then the post-hooks, inside a profiler range named
        ``Optimizer.step#<class>.step``.

        The range is opened with ``torch._C._profiler._RecordFunctionFast``, which records only
        when an observer listens, where torch opens ``torch.autograd.profiler.record_function``:
        that one dispatches two operators and builds a handle object on every step, about 130 us
        after a backward has flushed the caches against 14 us (400-parameter model, 2 cores).
        A profiler sees the same range either way.
        """

        @functools.wraps(func)
        def hooked_step(*args: Any, **kwargs: Any) -> Any:
            self = args[0]
            # (dynamo traces torch's record_function as a no-op, and breaks the graph on the fast one)
            open_range = torch.autograd.profiler.record_function if torch.compiler.is_compiling() else _profiler_range
            with open_range(f"Optimizer.step#{self.__class__.__name__}.step"):
                for pre_hook in itertools.chain(_global_hooks("pre").values(), self._optimizer_step_pre_hooks.values()):
                    replaced = pre_hook(self, args, kwargs)
                    if replaced is None:
                        continue
                    if not (isinstance(replaced, tuple) and len(replaced) == 2):
                        raise RuntimeError(
                            f"{func} must return None or a tuple of (new_args, new_kwargs), but got {replaced}."
                        )
                    args, kwargs = replaced
                result = func(*args, **kwargs)
                self._optimizer_step_code()
                for post_hook in itertools.chain(self._optimizer_step_post_hooks.values(), _global_hooks("post").values()):
                    post_hook(self, args, kwargs)
                return result

        return hooked_step

    def __getstate__(self) -> dict[str, Any]:
        # torch pickles defaults, state and param_groups only; keep our additions too. Pickle and
        # deepcopy memoise tensors, so `_unstepped` still names the copied parameters.
        return {**super().__getstate__(), "enable_global_step": self.enable_global_step, "_unstepped": self._unstepped}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("enable_global_step", False)
        self.__dict__.setdefault("_unstepped", set())
        self.__dict__.setdefault("_flat_states", FlatStates())
        for group in self.param_groups:
            for key, default in self._group_option_defaults.items():
                group.setdefault(key, default)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                numbers = [key for key, value in p_state.items() if _is_number(value) and key != GLOBAL_STEP_KEY]
                if numbers:
                    self._counters_as_tensors(group, p, p_state, numbers)

    @classmethod
    def _defaults_from_signature(cls, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The ``defaults`` dict: the value of every option of ``cls``'s constructor, taken from
        ``arguments`` (its ``locals()``), in torch's order.

        Call it on the class whose constructor it is (``Adam._defaults_from_signature(locals())``
        in ``Adam.__init__``): subclasses with signatures of their own (AdamW, the Cerebras
        facades) pass through it and must still get all of ``Adam``'s options.
        """
        return {
            name: arguments[name] for name in ordered_options(cls.__init__, cls._torch_defaults_order)
            if not (name in cls._own_options and arguments[name] is None)
        }

    def _counters_as_tensors(self, group: dict[str, Any], p: Tensor, p_state: dict[str, Any], keys: list[str]) -> None:
        """Turn the Python-number counters of an old checkpoint (``step``, ...) into the 0-dim
        tensors this class creates for them, with their dtype and placement."""
        probe = torch.empty_like(p, device="meta")
        try:
            fresh = self._init_state(group, probe)
        except Exception:
            try:
                # A loaded group may lack an option the step never reads once the state exists
                # (Rprop's lr): the defaults stand in for it to describe the counters.
                fresh = self._init_state({**self.defaults, **group}, probe)
            except Exception:
                return  # a state this class cannot describe: leave it for the step to judge
        for key in keys:
            counter = fresh.get(key)
            if isinstance(counter, Tensor) and counter.dim() == 0:
                # Counters that follow the parameter were probed onto the meta device.
                device = p.device if counter.device.type == "meta" else counter.device
                p_state[key] = torch.tensor(float(p_state[key]), dtype=counter.dtype, device=device)

    # ----------------------------------------------------------------------------- subclass API
    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        """The state of ``p`` before its first step. Default: no state."""
        return {}

    def _hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the rule for ``group``: the options its signature names
        (``beta1`` from ``betas``, ...), 1-element tensors as 0-dim ones, as torch uses them."""
        return {name: squeezed(value) for name, value in group_options(type(self)._rule, group).items()}

    def _check_param(self, group: dict[str, Any], p: Tensor) -> None:
        """Reject a parameter the algorithm cannot update (complex ones, sparse gradients)."""
        if not self._supports_complex and torch.is_complex(p):
            raise RuntimeError(f"{type(self).__name__} does not support complex parameters")
        if not self._supports_sparse and p.grad is not None and p.grad.is_sparse:
            raise RuntimeError(self._sparse_message or f"{type(self).__name__} does not support sparse gradients")

    # ------------------------------------------------------------------------------ machinery
    def _ensure_state(self, group: dict[str, Any], p: Tensor) -> None:
        state = self.state.get(p)
        # A global step alone (increment_global_step before the first step) is not the
        # algorithm's state yet: create that beside it.
        if _has_state(state):
            return
        if group.get("fused"):
            check_fused_device(p)
        fresh = compact_state(self, group, self._init_state(group, p))
        if self.enable_global_step and not (state and GLOBAL_STEP_KEY in state):
            fresh.setdefault(GLOBAL_STEP_KEY, torch.zeros((), dtype=torch.float32, device=p.device))
        if fresh:
            self.state[p].update(fresh)
            self._unstepped.add(p)

    def _first_step_flags(self, params: list[Tensor]) -> list[bool]:
        """For each parameter: is this the first step since its state was created?

        Only rules whose first step differs from a step on a zero state need this (SGD copies the
        gradient into a new momentum buffer instead of dampening it).
        """
        if not self._unstepped:  # (the common case after the first step: no hashing per parameter)
            return [False] * len(params)
        return [p in self._unstepped for p in params]

    def _use_foreach(self, group: dict[str, Any], params: list[Tensor]) -> bool:
        """torch's dispatch: an explicit ``foreach`` wins; with neither ``foreach`` nor ``fused``
        given, foreach on CUDA-like devices and a for-loop on the CPU (never when differentiable)."""
        if not self._supports_foreach:
            return False  # no `foreach` option: a per-tensor loop on every device
        foreach, fused = group.get("foreach"), group.get("fused")
        if foreach is None and fused is None:
            return default_foreach(params, group.get("differentiable", False))
        return bool(foreach)

    def _per_param_lists(self, group: dict[str, Any], params: list[Tensor]) -> dict[str, list[Any]]:
        """The per-parameter lists the rule takes besides params and grads: the state entries its
        signature names (``None`` where a parameter lacks one, as Adafactor's mix of factored and
        full second moments); an optional list none of the parameters has is left out."""
        # `.get`: `self.state` is a defaultdict, and a stateless parameter must stay without an entry.
        states = [self.state.get(p, {}) for p in params]
        return {
            name: [state.get(name) for state in states]
            for name, optional in rule_signature(type(self)._rule).lists
            if not optional or name in states[0]
        }

    def _fused_update(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor],
                      per_param: dict[str, list[Any]]) -> None:
        """``fused=True``: torch's fused kernel where the class has one (it overrides this), else
        the class's rule compiled with ``torch.compile`` (one generated loop per tensor, or per
        flat buffer run; see :func:`~._executor.execute`)."""
        if "fused" not in self._own_options:
            raise RuntimeError(f"{type(self).__name__} has no fused implementation")
        execute(type(self)._rule, params, grads, per_param, self._hyperparameters(group), foreach=False,
                compiled=True)

    def _runs_fused(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor] | None = None) -> bool:
        """Whether ``group`` steps with torch's fused kernel: when asked to, or by default where
        the class has one and :func:`~._executor.fused_by_default` allows it."""
        if group.get("fused"):
            return True
        if not self._fused_by_default or group.get("foreach") is not None or group.get("fused") is not None:
            return False
        if group.get("differentiable") or group.get("capturable"):
            return False
        init = type(self).__init__
        if any(type(group.get(flag, False)) is not bool for flag in strict_flags(init)) or any(
            type(group.get(name, 0.0)) not in _KERNEL_NUMBERS for name in number_options(init)
        ):
            # torch's for-loop takes any truthy value for a flag (amsgrad=0), and any value for
            # an option its step does not read (SGD's dampening=None without momentum); its fused
            # kernel raises TypeError for them: keep torch's default there.
            return False
        if grads is None:
            grads = [p.grad for p in params]  # type: ignore[misc]
        return fused_by_default(params, grads, lr=group.get("lr"))

    def _update_group(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """Apply the rule to the parameters of ``group`` that have a gradient: each run of them that
        lies back to back in a flat buffer (:func:`~optimkit.flatten_parameters`) as one tensor,
        the others as they are."""
        if not params:
            return
        if group.get("state_dtype") is not None or group.get("stochastic_rounding"):
            lean_update(self, group, params)  # compact state: expanded a piece at a time
            return
        per_param = self._per_param_lists(group, params)
        grads: list[Tensor] = [p.grad for p in params]  # type: ignore[misc]
        # Not while compiling: the compiler fuses the per-tensor step itself, and the plan's
        # bookkeeping (weak dictionaries, caches) would only add guards and graph breaks.
        if (self._elementwise and flattening_generation() and not group.get("differentiable")
                and not torch.compiler.is_compiling()):
            runs, rest = self._flat_states.plan(params, per_param, self.state)
            arguments: tuple[list[Tensor], list[Tensor], dict[str, list[Any]]] = (params, grads, per_param)
            if runs:
                # One call over the runs (as single tensors) and the other parameters: one kernel
                # launch list for torch's fused kernels, one graph for a compiled rule.
                arguments = (
                    [run.param for run in runs] + select(params, rest),
                    [run.grad for run in runs] + select(grads, rest),
                    {name: [value for run in runs for value in run.lists[name]] + select(values, rest)
                     for name, values in per_param.items()},
                )
            fused = self._runs_fused(group, arguments[0], arguments[1])
            self._apply_rule(group, *arguments, fused=fused)
            for run in runs:
                run.finish()
            # Loose flattened parameters (a size that ends a run, alone between two) step as
            # themselves and keep their gradient views through zero_grad, so a steady step
            # can carry them too; a parameter outside any buffer gets a new gradient after
            # each zero_grad(set_to_none=True), and would send every step down this path.
            if self._keeps_steady_steps(group, params) and all(buffer_of(params[i]) is not None for i in rest):
                self._flat_states.remember(group, params, per_param, runs, self.state, arguments, fused,
                                           self.param_groups)
            return
        self._apply_rule(group, params, grads, per_param)

    def _keeps_steady_steps(self, group: dict[str, Any], params: list[Tensor]) -> bool:
        """Whether the next steps of ``group`` may reuse the flat step just taken
        (:class:`~._flat.SteadyStep`): every parameter of the group stepped, none for the first
        time, and the class adds nothing of its own around the step that the reuse would skip."""
        cls = type(self)
        return (len(params) == len(group["params"]) and not self._unstepped and not self.enable_global_step
                and cls._update_group is Optimizer._update_group and cls._check_param is Optimizer._check_param)

    def _apply_rule(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor],
                    per_param: dict[str, list[Any]], fused: bool | None = None) -> None:
        """Run the rule of this class over ``params`` with the executor ``group`` calls for
        (``fused``: whether that is torch's fused kernel, when the caller knows)."""
        if fused if fused is not None else self._runs_fused(group, params, grads):
            self._fused_update(group, params, grads, per_param)
            return
        execute(
            type(self)._rule,
            params,
            grads,
            per_param,
            self._hyperparameters(group),
            foreach=self._use_foreach(group, params),
            differentiable=group.get("differentiable", False),
            elementwise=self._elementwise,
        )

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter, as ``torch.optim.Optimizer.zero_grad``.

        Parameters in a flat buffer (:func:`~optimkit.flatten_parameters`) are the exception: their
        gradients are zeroed in place, one kernel per buffer, and stay views into it (so the next
        backward accumulates into the buffer) even with ``set_to_none=True``.
        """
        super().zero_grad(set_to_none)
        if flattening_generation():
            everything = [p for group in self.param_groups for p in group["params"]]
            for buffer, indices in self._flat_states.buffers_of(everything):
                buffer.zero_grad(indices)

    def _params_with_grad(self, group: dict[str, Any]) -> list[Tensor]:
        params = [p for p in group["params"] if p.grad is not None]
        if type(self)._check_param is Optimizer._check_param and not (
            (not self._supports_complex and any(p.is_complex() for p in params))
            or (not self._supports_sparse and any(p.grad.is_sparse for p in params))  # type: ignore[union-attr]
        ):
            return params  # the common checks pass for the whole list (a call per parameter costs more)
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
        if self._skips_overflow_on_host and _overflowed(getattr(self, "found_inf", None)):
            return loss  # nothing moves, no state is created: as if GradScaler had not called
        state = self.state
        steady = (self._flat_states.steady if flattening_generation() and not torch.compiler.is_compiling()
                  and not self._unstepped and not self.enable_global_step else None)
        for group in self.param_groups:
            if steady:
                # A flattened group stepping as it did last time: the same rule call, after the
                # whole-list checks of SteadyStep.holds instead of the plan's per-parameter ones.
                again = steady.get(id(group))
                if again is not None and again.holds(group, state):
                    self._apply_rule(group, *again.arguments, fused=again.fused)
                    again.finish()
                    continue
            params = self._params_with_grad(group)
            # Only parameters without their state yet (the test of _ensure_state, inlined: this
            # runs for every parameter of every step).
            for p in [p for p in params if not _has_state(state.get(p))]:
                self._ensure_state(group, p)
            self._update_group(group, params)
            if self._unstepped:  # (discard one by one: dynamo cannot trace set.difference_update)
                for p in params:
                    self._unstepped.discard(p)
            if self.enable_global_step:
                for p in params:
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
