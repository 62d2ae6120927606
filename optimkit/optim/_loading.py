"""Loading a state dict: torch's loader, after checking that the dict fits the optimizer.

torch's ``load_state_dict`` accepts a state dict of another optimizer class, or one with a missing
or misshapen entry, and fails only at the next ``step()``, after the good state was overwritten.
:class:`StateDictLoading`, a base of :class:`~optimkit.optim.Optimizer`, checks the whole dict
against the state the class would create (probed on the meta device) first, and puts the
optimizer back as it was if anything fails while loading.
"""

from __future__ import annotations

import inspect
import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, TypeAlias

import torch
from torch import Tensor

from ._lean import compact_state, restore_compact
from ._placement import place_loaded_state

__all__ = ["GLOBAL_STEP_KEY", "StateDictLoading"]

StateDict: TypeAlias = dict[str, Any]

# Per-parameter key of the opt-in global step. torch-compatible optimizers already own "step"
# with torch's meaning (Adam's bias-correction count), so the global counter lives beside it
# instead of double-counting into it.
GLOBAL_STEP_KEY = "global_step"


def _valid_count(value: Any) -> bool:
    """A step count: finite and not negative (a number or a one-element real tensor)."""
    try:
        number = float(value.detach().reshape(()).item()) if isinstance(value, Tensor) else float(value)
    except (TypeError, ValueError, RuntimeError):  # a complex count
        return False
    return math.isfinite(number) and number >= 0


def _has_len(value: Any) -> bool:
    try:
        len(value)
    except TypeError:
        return False
    return True


def _option_kind(value: Any) -> str:
    """A coarse kind of a group option, to compare a loaded value with the current one."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "flag"
    if isinstance(value, (int, float)) or (isinstance(value, Tensor) and value.numel() == 1):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "sequence"
    if isinstance(value, Tensor):
        return "tensor"
    return "object"


_KIND_WORDS = {"None": "None", "flag": "a bool", "number": "a number", "str": "a string",
               "sequence": "a tuple", "tensor": "a tensor", "object": "an object"}


def _option_mismatch(current: Any, value: Any, nullable: bool) -> str | None:
    """What ``current`` is, when ``value`` is of another kind (else ``None``)."""
    want, got = _option_kind(current), _option_kind(value)
    if want == got:
        if want == "sequence":
            if len(current) != len(value):
                return f"a tuple of {len(current)} entries"
            for c, v in zip(current, value):
                if _option_mismatch(c, v, nullable=True) is not None:
                    return f"a tuple of {', '.join(_KIND_WORDS[_option_kind(c)] for c in current)}"
        return None
    if want in ("None", "object") or (got == "None" and (want == "flag" or nullable)):
        return None
    return f"{_KIND_WORDS[want]} ({_describe(current)})"


def _describe(value: Any) -> str:
    """A short account of a state entry for error messages."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}" if value is None or isinstance(value, (int, float, bool)) else f"a {type(value).__name__}"


class StateDictLoading(torch.optim.Optimizer):
    """``load_state_dict`` with its checks (see the module docstring); the rest of the optimizer
    comes from :class:`~optimkit.optim.Optimizer`, which derives from this class."""

    # Provided by Optimizer: the options old checkpoints may lack, the parameters not stepped yet,
    # and (methods) `_init_state` and `_hyperparameters`, which the checks probe.
    _group_option_defaults: dict[str, Any]
    _unstepped: set[Tensor]
    def load_state_dict(self, state_dict: StateDict) -> None:
        """torch's ``load_state_dict``, after checking that ``state_dict`` fits this optimizer.

        torch accepts a state dict of another optimizer class, or one with a missing or misshapen
        entry, and fails only at the next ``step()`` (``KeyError: 'momentum_buffer'``), after the
        good state was overwritten. Here the dict is checked first, and a bad one raises with the
        parameter, the entry and what was expected, leaving the optimizer untouched:

        * ``ValueError``: a different number of parameter groups or of parameters in a group
          (torch's messages); a group lacking options this class needs, or state entries and
          group options of another optimizer class; a per-parameter tensor of the wrong shape;
        * ``KeyError``: no ``state`` or ``param_groups``, a group without ``params``, a parameter
          with state that lacks an entry this class keeps;
        * ``TypeError``: not a dict (torch raises ``AttributeError`` there); ``param_groups`` not a
          list of dicts, ``params`` not a list, ``state`` not a dict; an entry that should be a
          tensor and is not, or the reverse; a group option of another kind than this
          optimizer's own value of it (a bool or a list where it holds a number, a number where
          it holds a flag, a ``betas`` of another length).

        If anything fails while loading (a post-hook included), the optimizer is put back as it
        was before the call.

        Still accepted: torch's own state dicts of the same class (old ones lacking newer group
        options, or with Python-number step counters), parameters without state, an extra or
        missing ``global_step``, and extra group options (``initial_lr`` from a scheduler).
        Loaded states count as already stepped.

        Example:
            >>> import torch
            >>> from optimkit.optim import SGD, Adam
            >>> w = torch.nn.Parameter(torch.ones(2)); w.grad = torch.ones(2)
            >>> sgd = SGD([w], lr=0.1, momentum=0.9); sgd.step()
            >>> Adam([w]).load_state_dict(sgd.state_dict())  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            ValueError: loaded state dict does not fit Adam: parameter group 0 lacks the option(s) 'betas', 'eps' ...
        """
        # torch's loader runs the load_state_dict pre-hooks first, and they may rewrite the dict,
        # so run them here, check their result, and hand it to torch's loader with the hooks set
        # aside: each hook runs once, in torch's order.
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"loaded state dict must be a dict with 'state' and 'param_groups' (an optimizer's "
                f"state_dict()), got {type(state_dict).__name__}"
            )
        pre_hooks = self._optimizer_load_state_dict_pre_hooks
        state_dict = dict(state_dict)  # shallow, as torch: hooks may add or replace entries
        for pre_hook in pre_hooks.values():
            hooked = pre_hook(self, state_dict)
            if hooked is not None:
                state_dict = hooked
        self._check_state_dict(state_dict)
        # Emptied and refilled in place rather than swapped for another dict, so the handles of
        # the hooks (which point at this dict) keep working, also for a hook that a post-hook
        # registers during the load.
        registered = list(pre_hooks.items())
        pre_hooks.clear()
        # torch's loader replaces `state` and `param_groups` with new objects (the current ones
        # are never written to) and its __setstate__ may add attributes or defaults: keep what
        # there is, to put back if anything fails on the way (a post-hook included).
        attributes = dict(self.__dict__)
        defaults = dict(self.defaults)
        try:
            super().load_state_dict(state_dict)
            restore_compact(self, state_dict)
            # Resumed steps as fast as the saved run's: large moments out of lockstep again.
            place_loaded_state(self.state, [p for group in self.param_groups for p in group["params"]])
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(attributes)
            self.defaults.clear()
            self.defaults.update(defaults)
            raise
        finally:
            added = list(pre_hooks.items())
            pre_hooks.clear()
            pre_hooks.update(registered)
            pre_hooks.update(added)
        self._unstepped.clear()

    def _check_state_dict(self, state_dict: StateDict) -> None:
        """Raise if ``state_dict`` cannot be loaded into this optimizer; change nothing."""
        cls = type(self).__name__
        if "param_groups" not in state_dict:
            raise KeyError("loaded state dict has no 'param_groups' entry (an optimizer state_dict has 'state' and "
                           "'param_groups')")
        saved_groups = state_dict["param_groups"]
        # torch's own checks and messages, in torch's order (the groups before the state).
        if _has_len(saved_groups) and len(self.param_groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if not isinstance(saved_groups, (list, tuple)):
            raise TypeError(f"loaded state dict: 'param_groups' must be a list of parameter groups, got "
                            f"{type(saved_groups).__name__}")
        for index, saved_group in enumerate(saved_groups):
            if not isinstance(saved_group, dict):
                raise TypeError(f"loaded state dict: parameter group {index} must be a dict, got {type(saved_group).__name__}")
            if "params" not in saved_group:
                raise KeyError(f"loaded state dict: parameter group {index} has no 'params' list")
        if any(_has_len(s["params"]) and len(g["params"]) != len(s["params"]) for g, s in zip(self.param_groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        for index, saved_group in enumerate(saved_groups):
            ids = saved_group["params"]
            if not isinstance(ids, (list, tuple)):
                raise TypeError(f"loaded state dict: 'params' of parameter group {index} must be a list of parameter "
                                f"ids, got {_describe(ids)}")
            unhashable = [i for i in ids if getattr(type(i), "__hash__", None) is None]
            if unhashable:
                raise TypeError(f"loaded state dict: 'params' of parameter group {index} holds {_describe(unhashable[0])}, "
                                "not a parameter id")
        if "state" not in state_dict:
            raise KeyError("loaded state dict has no 'state' entry (an optimizer state_dict has 'state' and 'param_groups')")
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            raise TypeError(f"loaded state dict: 'state' must be a dict of per-parameter states, got {type(saved_state).__name__}")

        for index, (group, saved_group) in enumerate(zip(self.param_groups, saved_groups)):
            loaded_group = self._group_as_loaded(group, saved_group)
            # The options are the defaults every group received (torch's __setstate__ also adds a
            # `differentiable` default to optimizers that have no such option, LBFGS: not one).
            missing = [key for key in self.defaults if key != "params" and key in group and key not in loaded_group]
            if missing and self._step_reads_any(loaded_group):
                options = sorted(key for key in saved_group if key not in ("params", "param_names"))
                raise ValueError(
                    f"loaded state dict does not fit {cls}: parameter group {index} lacks the option(s) "
                    f"{', '.join(map(repr, missing))} that {cls} needs (it has {', '.join(map(repr, options))}); "
                    "is it the state dict of another optimizer class?"
                )
            self._check_group_options(group, loaded_group, index)
            # Options neither this class nor the optimizer's current group knows; harmless alone
            # (a scheduler's `initial_lr`), a sign of another class together with foreign state.
            foreign_options = sorted(
                str(key) for key in saved_group
                if key not in self.defaults and key not in group and key not in ("params", "param_names")
            )
            names = saved_group.get("param_names")
            for position, (p, saved_id) in enumerate(zip(group["params"], saved_group["params"])):
                if saved_id not in saved_state:
                    continue
                label = f"parameter {saved_id!r}"
                if isinstance(names, (list, tuple)) and position < len(names):
                    label += f" ({names[position]!r})"
                # The state expected for the loaded options; an option the loaded group lacks (one
                # its step never reads, so it was let through above) keeps the current value here.
                self._check_param_state({**group, **loaded_group}, p, saved_state[saved_id],
                                        f"{label} in group {index}", foreign_options)

    def _check_group_options(self, group: dict[str, Any], loaded: dict[str, Any], index: int) -> None:
        """Each option of the loaded group is of the kind the optimizer's own group holds (a
        number for a number, a flag for a flag, a pair for a pair): a state dict the step would
        choke on is refused here, naming the option. ``None`` is taken where the group holds
        ``None`` or a flag, or where the constructor's default is ``None``."""
        nullable = self._nullable_options()
        for key, value in loaded.items():
            if key in ("params", "param_names") or key not in group:
                continue
            problem = _option_mismatch(group[key], value, key in nullable)
            if problem is not None:
                raise TypeError(
                    f"loaded state dict: option {key!r} of parameter group {index} is {_describe(value)}, "
                    f"where {type(self).__name__} holds {problem}"
                )

    @classmethod
    def _nullable_options(cls) -> frozenset[str]:
        try:
            parameters = inspect.signature(cls.__init__).parameters.values()
        except (TypeError, ValueError):
            return frozenset()
        return frozenset(p.name for p in parameters if p.default is None)

    def _step_reads_any(self, group: dict[str, Any]) -> bool:
        """Whether a step would fail on ``group``, which lacks some of this class's options.

        torch's loader accepts a group without an option its step never reads, or reads with a
        default (an old SparseAdam checkpoint without ``maximize``); so do we. The rule's
        arguments come from ``_hyperparameters``: an error there is a failure to come. A
        class with its own ``step`` (LBFGS) does not say what it reads: assume everything.
        """
        if getattr(type(self), "_rule", None) is None:
            return True
        try:
            self._hyperparameters(group)
        except Exception:
            # A KeyError, or another option in the missing one's place (Adam's float `eps` where
            # Adafactor unpacks a pair): the step would fail the same way.
            return True
        return False

    def _group_as_loaded(self, group: dict[str, Any], saved_group: dict[str, Any]) -> dict[str, Any]:
        """The options ``saved_group`` will have once loaded: torch's loader ends in
        ``__setstate__``, where each class fills the options older checkpoints lack. Run that
        ``__setstate__`` on a scratch instance so any class's filling is honoured."""
        loaded = {**saved_group, "params": list(group["params"])}
        scratch = object.__new__(type(self))
        try:
            scratch.__setstate__({"defaults": dict(self.defaults), "state": defaultdict(dict), "param_groups": [loaded]})
            return scratch.param_groups[0]
        except Exception:
            # A __setstate__ that needs more than a bare instance: fill the declared options only.
            return {**self._group_option_defaults, **loaded}

    def _check_param_state(self, group: dict[str, Any], p: Tensor, saved: Any, label: str,
                           foreign_options: list[str]) -> None:
        """Compare one parameter's saved state with the state this class would create for it."""
        cls = type(self).__name__
        if not isinstance(saved, dict):
            raise TypeError(f"loaded state of {label} must be a dict of state entries, got {type(saved).__name__}")
        if GLOBAL_STEP_KEY in saved and not (isinstance(saved[GLOBAL_STEP_KEY], Tensor) and saved[GLOBAL_STEP_KEY].numel() == 1):
            raise TypeError(
                f"loaded state of {label}: {GLOBAL_STEP_KEY!r} is {_describe(saved[GLOBAL_STEP_KEY])}, expected a 0-dim tensor"
            )
        if not saved.keys() - {GLOBAL_STEP_KEY}:
            return  # no step yet (at most a global step counted): the state is created lazily
        expected = self._probe_state(group, p)
        if expected is None:
            return
        extra = [key for key in saved if key not in expected and key != GLOBAL_STEP_KEY
                 and isinstance(saved[key], Tensor)]
        if extra and foreign_options:
            raise ValueError(
                f"loaded state dict does not fit {cls}: {label} has state {', '.join(map(repr, extra))} that {cls} "
                f"does not keep, and the group has option(s) {', '.join(map(repr, foreign_options))} that {cls} does "
                "not take; is it the state dict of another optimizer class?"
            )
        for key, fresh in expected.items():
            if key not in saved:
                raise KeyError(
                    f"loaded state of {label} lacks {key!r}: {cls} keeps {list(expected)} for every parameter "
                    "that has state"
                )
            self._check_state_entry(key, saved[key], fresh, p, label)

    def _check_state_entry(self, key: str, value: Any, fresh: Any, p: Tensor, label: str) -> None:
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(fresh, Tensor):
            if fresh.dim() == 0:
                # A counter: older checkpoints stored it as a Python number (__setstate__ converts).
                if is_number or (isinstance(value, Tensor) and value.numel() == 1):
                    if key == "step" and not _valid_count(value):
                        raise ValueError(f"loaded state of {label}: 'step' is {_describe(value)}, expected a finite "
                                         "count >= 0")
                    return
                raise TypeError(f"loaded state of {label}: {key!r} is {_describe(value)}, expected a 0-dim tensor")
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"loaded state of {label}: {key!r} is {_describe(value)}, expected a tensor of shape {tuple(fresh.shape)}"
                )
            if value.shape != fresh.shape:
                like = " (the shape of the parameter)" if fresh.shape == p.shape else ""
                raise ValueError(
                    f"loaded state of {label}: {key!r} has shape {tuple(value.shape)}, expected "
                    f"{tuple(fresh.shape)}{like}"
                )
        elif isinstance(fresh, (int, float)) and not isinstance(fresh, bool):
            # A plain counter (SparseAdam's step); a one-element tensor still converts.
            if not (is_number or (isinstance(value, Tensor) and value.numel() == 1)):
                raise TypeError(f"loaded state of {label}: {key!r} is {_describe(value)}, expected a number")

    def _probe_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any] | None:
        """The state this class creates for ``p`` under ``group``'s options, built on the meta
        device so nothing is allocated; ``None`` when the class cannot say (nothing to check)."""
        probe = torch.empty_like(p, device="meta")
        try:
            return compact_state(self, group, self._init_state({**group, "fused": False, "capturable": False}, probe))
        except Exception:
            return None
