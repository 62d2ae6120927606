r"""Contiguous parameter buffers: the parameters of a model in one tensor per device and dtype.

An optimizer step reads and writes every parameter, gradient and state tensor once; on a model
with hundreds of tensors its time goes to per-tensor overhead (kernel calls, Python) rather than
to memory. :func:`flatten_parameters` puts the parameters of each (device, dtype) into one flat
tensor: each parameter's ``.data`` becomes a view into it, and its ``.grad`` a view into a flat
gradient buffer of the same layout, which autograd then accumulates into in place. An optimkit
optimizer whose rule is element-wise then steps each buffer (or each run of consecutive
parameters of a buffer that one parameter group holds) as a single tensor: a handful of kernel
calls whatever the number of parameters, and the same numbers, element for element.

What the optimizer keeps is unchanged: its ``state`` holds one tensor per parameter and key, and
``state_dict()`` is per parameter and loads into ``torch.optim``. Those tensors are views into
flat state buffers (:class:`FlatStates`) that the optimizer allocates at its first step over a
buffer.

Nothing depends on the views staying intact. Before each step the optimizer checks them:

* a gradient that was replaced (``module.zero_grad()`` sets them to ``None``, the next backward
  creates new ones; or a user assigned ``.grad``) is copied into the buffer and the view put back;
* a parameter without a gradient, or whose ``.data`` no longer lies in the buffer
  (``module.to(...)``, an assignment to ``.data``), makes the step fall back to the per-tensor
  path for the parameters of that buffer;
* state tensors that were replaced (``load_state_dict``) are copied into the flat state buffer
  and the views put back.

Example:
    >>> import torch
    >>> from optimkit import flatten_parameters
    >>> from optimkit.optim import Adam
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 1))
    >>> (buffer,) = flatten_parameters(model)
    >>> buffer.data.numel(), len(buffer.params)
    (49, 4)
    >>> opt = Adam(model.parameters(), lr=1e-2)
    >>> model(torch.randn(16, 4)).pow(2).mean().backward()
    >>> opt.step()        # one fused kernel call for the four parameters
    >>> opt.zero_grad()   # zeroes the gradient buffer in place; the views stay
    >>> model[0].weight.grad.data_ptr() == buffer.grad.data_ptr()
    True
"""

from __future__ import annotations

import itertools
import operator
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

from ._placement import buffer_zeros

__all__ = ["FlatBuffer", "FlatRun", "FlatStates", "SteadyStep", "buffer_of", "flatten_parameters",
           "flattening_generation", "options_fingerprint"]

# Parameter -> its buffer. Weak, so that flattening keeps no model alive.
_OWNERS: WeakIdKeyDictionary = WeakIdKeyDictionary()
_SHAPE = operator.attrgetter("shape")
_GRAD = operator.attrgetter("grad")

# Bumped by every flatten_parameters call: optimizers cache their plans under it.
_GENERATION = itertools.count(1)
_generation = 0


def flattening_generation() -> int:
    """0 until something was flattened, then a number that changes with every flattening."""
    return _generation


class FlatBuffer:
    """The parameters of one device and dtype, stored back to back in :attr:`data`, their
    gradients in :attr:`grad` with the same layout.

    The buffer refers to its parameters weakly (the registry of buffers is keyed by them), so it
    keeps no model alive.

    Attributes:
        params: the parameters, in buffer order.
        offsets: where each parameter starts in the buffer, in elements.
        data: the flat parameter tensor; ``params[i].data`` is ``view(data, i)``.
        grad: the flat gradient tensor, zero until the first backward.
    """

    def __init__(self, params: list[Tensor]) -> None:
        first = params[0]
        self._refs = [weakref.ref(p) for p in params]
        self.shapes = [p.shape for p in params]
        self.offsets = list(itertools.accumulate((p.numel() for p in params), initial=0))[:-1]
        self.numel = sum(p.numel() for p in params)
        with torch.no_grad():
            # Out of step with each other and with the state (see `_placement`).
            self.data = buffer_zeros(self.numel, dtype=first.dtype, device=first.device, slot=0)
            self.grad = buffer_zeros(self.numel, dtype=first.dtype, device=first.device, slot=1)
            for index, p in enumerate(params):
                view = self.view(self.data, index)
                view.copy_(p)
                p.data = view
        self.grad_views = self.views(self.grad)
        for p, g in zip(params, self.grad_views):
            p.grad = g
        self._data_ptrs = [p.data_ptr() for p in params]
        self.index = {id(p): i for i, p in enumerate(params)}

    @property
    def params(self) -> list[Tensor]:
        return [ref() for ref in self._refs]  # type: ignore[misc]

    def view(self, flat: Tensor, index: int) -> Tensor:
        """The part of ``flat`` (a tensor of this buffer's layout) that belongs to parameter ``index``,
        shaped like it."""
        shape = self.shapes[index]
        return flat[self.offsets[index]: self.offsets[index] + shape.numel()].view(shape)

    def views(self, flat: Tensor) -> list[Tensor]:
        return [self.view(flat, index) for index in range(len(self.shapes))]

    def span(self, flat: Tensor, first: int, last: int) -> Tensor:
        """The flat part of ``flat`` that parameters ``first`` to ``last`` (inclusive) cover."""
        return flat[self.offsets[first]: self.offsets[last] + self.shapes[last].numel()]

    def _live(self, indices: list[int]) -> list[Tensor | None]:
        return [ref() for ref in _picked(self._refs, indices)]

    def data_intact(self, indices: list[int]) -> bool:
        """Whether the parameters at ``indices`` are alive and still live in :attr:`data`."""
        # Every step asks this for every flattened parameter: whole-list comparisons (C loops)
        # rather than a Python loop with three tests per parameter.
        live = self._live(indices)
        try:
            ptrs = list(map(Tensor.data_ptr, live))
        except TypeError:  # a parameter is gone (None)
            return False
        return ptrs == _picked(self._data_ptrs, indices) and (
            list(map(_SHAPE, live)) == _picked(self.shapes, indices))

    def attach_grads(self, indices: list[int]) -> bool:
        """Make the gradients of the parameters at ``indices`` the views into :attr:`grad` again,
        copying in any that was replaced. False when one has no gradient or one that does not fit
        (the step then takes the per-tensor path)."""
        try:
            grads = list(map(_GRAD, self._live(indices)))
        except AttributeError:  # a parameter is gone (None)
            return False
        if all(map(operator.is_, grads, _picked(self.grad_views, indices))):
            return True  # (the usual step: every gradient is its view)
        for i in indices:
            p, view = self._refs[i](), self.grad_views[i]
            if p is None:
                return False
            grad = p.grad
            if grad is view:
                continue
            if grad is None or grad.is_sparse or grad.shape != view.shape or grad.dtype != view.dtype:
                return False
            with torch.no_grad():
                view.copy_(grad)
            p.grad = view
        return True

    def zero_grad(self, indices: list[int] | None = None) -> None:
        """Zero the gradients of the parameters at ``indices`` (all: the whole buffer, one kernel)
        in place, and make them the views into :attr:`grad` again."""
        with torch.no_grad():
            if indices is None or len(indices) == len(self._refs):
                self.grad.zero_()
                indices = list(range(len(self._refs)))
            else:
                for i in indices:
                    self.grad_views[i].zero_()
        for i in indices:
            p = self._refs[i]()
            if p is not None and p.grad is not self.grad_views[i] and self.data_intact([i]):
                p.grad = self.grad_views[i]

    def __repr__(self) -> str:
        return f"FlatBuffer({len(self._refs)} parameters, {self.numel} elements, {self.data.dtype}, {self.data.device})"


def buffer_of(p: Tensor) -> FlatBuffer | None:
    """The buffer ``p`` was flattened into, if any."""
    return _OWNERS.get(p)


def _can_flatten(p: Tensor) -> bool:
    # Frozen parameters get no gradient buffer (an optimizer must keep skipping them); views and
    # non-contiguous tensors keep their own layout; tensor subclasses (DTensor) their dispatch.
    return (
        type(p) in (Tensor, torch.nn.Parameter)
        and p.requires_grad
        and p.is_floating_point()
        and p.layout == torch.strided
        and p.is_contiguous()
        and not p._is_view()
        and buffer_of(p) is None
    )


def flatten_parameters(module_or_params: torch.nn.Module | Iterable[Tensor]) -> list[FlatBuffer]:
    """Put the parameters of each (device, dtype) into one contiguous buffer.

    Each parameter's ``.data`` becomes a view into the buffer and its ``.grad`` a zero-filled view
    into a matching gradient buffer, so ``backward()`` accumulates into the buffer in place.
    optimkit optimizers then step the element-wise algorithms over each buffer as one tensor, and
    their ``zero_grad()`` zeroes it in place (the parameters keep a gradient, zero, instead of
    ``None``).

    Parameters that do not require grad, are not contiguous, are views, are not floating point,
    are already in a buffer, or belong to a module with sparse gradients
    (``nn.Embedding(sparse=True)``) are left as they are.

    Args:
        module_or_params: a module (its ``parameters()``) or an iterable of parameters.

    Returns:
        The new buffers, one per (device, dtype), in order of first appearance.

    Example:
        >>> import torch
        >>> model = torch.nn.Linear(3, 2)
        >>> (buffer,) = flatten_parameters(model)
        >>> model.weight.data_ptr() == buffer.data.data_ptr()
        True
    """
    global _generation
    if isinstance(module_or_params, torch.nn.Module):
        # Sparse-gradient modules (nn.Embedding(sparse=True)): a dense gradient buffer would turn
        # their sparse gradients dense, which SparseAdam rejects.
        sparse = {id(p) for m in module_or_params.modules() if getattr(m, "sparse", False) is True
                  for p in m.parameters(recurse=False)}
        params: Iterable[Tensor] = [p for p in module_or_params.parameters() if id(p) not in sparse]
    else:
        params = module_or_params
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    seen: set[int] = set()
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"flatten_parameters expects a module or tensors, but got {type(p).__name__}")
        if id(p) in seen or not _can_flatten(p):
            continue
        seen.add(id(p))
        groups.setdefault((p.device, p.dtype), []).append(p)
    buffers = [FlatBuffer(group) for group in groups.values()]
    for buffer in buffers:
        for p in buffer.params:
            _OWNERS[p] = buffer
    if buffers:
        _generation = next(_GENERATION)
    return buffers


# ----------------------------------------------------------------------- the optimizer's side
@dataclass
class FlatRun:
    """Consecutive parameters of one buffer that step as one tensor.

    Attributes:
        param: the flat span of the buffer's data they cover.
        grad: the same span of its gradient buffer.
        lists: the rule's per-parameter lists for the run: flat spans of the state buffers, and
            one shared value for per-parameter scalars (``step``), which :meth:`finish` copies back.
    """

    param: Tensor
    grad: Tensor
    lists: dict[str, list[Any]]
    # (the scalar of the run's first parameter, which the rule advances, broadcast to the span of
    # the others after it; that span)
    _copy_back: list[tuple[Tensor, Tensor]] = field(default_factory=list)

    def finish(self) -> None:
        """Give every parameter of the run the new value of the scalars the rule advanced once
        (one copy into the span of the flat scalar buffer that holds the others)."""
        for advanced, others in self._copy_back:
            others.copy_(advanced)

    def counter_versions(self) -> list[int]:
        """The version counters of the spans :meth:`finish` writes, shared with their flat scalar
        buffers: any in-place change of a counter (other than through ``.data``) moves them."""
        return [others._version for _, others in self._copy_back]

    def counters_agree(self) -> bool:
        """Whether every parameter's scalars still equal those of the run's first parameter."""
        return all(bool((others == advanced).all()) for advanced, others in self._copy_back)


def options_fingerprint(group: dict[str, Any]) -> tuple[Any, ...]:
    """What a group's options decide beyond the numbers the rule reads each step: their names and
    types, which flags are set, which numbers are zero (``momentum=0`` keeps no buffer), which
    tensors they are. A scheduled ``lr`` or ``betas`` moves from step to step without changing it;
    turning an option on or off, or a float ``lr`` into a Tensor, does."""
    return tuple((name, _option_kind(value)) for name, value in group.items() if name != "params")


def _option_kind(value: Any) -> Any:
    kind = type(value)
    if kind is float or kind is int:
        return kind, value == 0
    if kind is tuple or kind is list:
        return kind, tuple(map(_option_kind, value))
    if value is None or kind is bool or kind is str:
        return kind, value
    return kind, id(value)  # a Tensor lr is scheduled in place: the same tensor from step to step


class SteadyStep:
    """The flat step of a flattened group, kept for the steps after it.

    The rule's arguments (the runs' spans of the data, gradient and state buffers, and the loose
    flattened parameters that step as themselves, with their gradients and state) stay the same
    from step to step as long as nothing they rely on changed, and :meth:`holds` checks that: the
    same parameters, each gradient still its view into the gradient buffer, each ``.data`` still at
    its place in the buffer, the same state dicts holding the same state tensors, the same kind of
    options, and the runs' step counters still equal. When something changed the optimizer takes
    the full path, which repairs what it can and records a new steady step.

    The checks touch every parameter, and right after a step (or a backward) those objects are
    out of the cache: one pass reads everything it needs from a parameter at once, and the state
    entries are compared in one chained pass, which took the checks over 400 parameters from about
    0.6 to 0.5 ms on a cold cache (0.2 ms warm).
    """

    def __init__(self, group: dict[str, Any], state: Any, params: list[Tensor], states: list[dict[str, Any]],
                 names: list[str], runs: list[FlatRun],
                 arguments: tuple[list[Tensor], list[Tensor], dict[str, list[Any]]], fused: bool) -> None:
        """Args:
            group, state: the group and the optimizer's ``state``.
            params: the group's parameters; ``states`` their state dicts, ``names`` the entries of
                those that the rule takes.
            runs: the runs of the step; ``arguments`` the params, grads and per-parameter lists the
                rule was given for them; ``fused`` whether torch's fused kernel ran it.
        """
        self.group, self.state, self.generation = group, state, _generation
        self.options = options_fingerprint(group)
        self.params = list(params)
        self.grads = list(map(_GRAD, params))
        self.data_ptrs = list(map(Tensor.data_ptr, params))
        self.states = states
        self._entries_of = operator.itemgetter(*names) if names else None
        self._single_entry = len(names) == 1
        self.entries = self._entries(states)
        self.runs, self.arguments, self.fused = runs, arguments, fused
        self._counter_versions = self._versions()

    def _entries(self, states: list[dict[str, Any]]) -> list[Any]:
        """The state tensors the rule takes, parameter by parameter, in one flat list."""
        if self._entries_of is None:
            return []
        picked = map(self._entries_of, states)
        return list(picked) if self._single_entry else list(itertools.chain.from_iterable(picked))

    def _versions(self) -> list[int]:
        return [version for run in self.runs for version in run.counter_versions()]

    def holds(self, group: dict[str, Any], state: Any) -> bool:
        """Whether :attr:`arguments` still stand for ``group`` (see the class)."""
        params = group["params"]
        if (group is not self.group or state is not self.state or _generation != self.generation
                or len(params) != len(self.params) or options_fingerprint(group) != self.options):
            return False
        state_of = state.get  # (`state[p]` would create an entry for a parameter that lost its state)
        for p, before, grad, data_ptr, entries in zip(params, self.params, self.grads, self.data_ptrs, self.states):
            if p is not before or p.grad is not grad or p.data_ptr() != data_ptr or state_of(p) is not entries:
                return False
        try:
            if not all(map(operator.is_, self._entries(self.states), self.entries)):
                return False
        except KeyError:  # an entry was taken out
            return False
        if self._versions() != self._counter_versions:
            # A counter changed in place since the last step, or another group stepped counters of
            # the same flat buffer: they must still be equal (a user's reset of one parameter's
            # counter sends the step down the full path, as the plan does).
            if not all(run.counters_agree() for run in self.runs):
                return False
        return True

    def finish(self) -> None:
        """After the rule ran: copy each run's advanced counters to the run's others."""
        for run in self.runs:
            run.finish()
        self._counter_versions = self._versions()


class FlatStates:
    """An optimizer's flat state buffers and its plan of which parameters step as one tensor."""

    def __init__(self) -> None:
        # (id(buffer), key) -> (flat state tensor, the per-parameter views handed to `state`).
        self._flat: dict[tuple[int, str], tuple[Tensor, list[Tensor]]] = {}
        self._layouts: dict[tuple[int, tuple[int, ...]], Any] = {}
        self._owners: dict[tuple[int, tuple[int, ...]], list[tuple[FlatBuffer, list[int]]]] = {}
        # id(group) -> the group's steady step (see SteadyStep).
        self.steady: dict[int, SteadyStep] = {}

    def buffers_of(self, params: list[Tensor]) -> list[tuple[FlatBuffer, list[int]]]:
        """The buffers that hold some of ``params``, each with the indices of those in it."""
        key = (_generation, tuple(map(id, params)))
        cached = self._owners.get(key)
        if cached is None:
            merged: dict[int, tuple[FlatBuffer, list[int]]] = {}
            for p in params:
                buffer = _OWNERS.get(p)
                if buffer is not None:
                    merged.setdefault(id(buffer), (buffer, []))[1].append(buffer.index[id(p)])
            cached = list(merged.values())
            self._owners = {key: cached}
        return cached

    def remember(self, group: dict[str, Any], params: list[Tensor], per_param: dict[str, list[Any]],
                 runs: list[FlatRun], state: Any, arguments: tuple[list[Tensor], list[Tensor], dict[str, list[Any]]],
                 fused: bool, groups: list[dict[str, Any]]) -> None:
        """Keep the flat step just taken for ``group`` as its :class:`SteadyStep`.

        Args:
            group: the group; every one of its parameters had a gradient and stepped, in ``runs``
                or as a loose flattened parameter.
            params: its parameters.
            per_param: the rule's per-parameter lists for them: state entries, and values that
                stay as they are from step to step (SGD's first-step flags once past the first).
            runs: the runs, ``arguments`` what the rule was given for them, ``fused`` how.
            state: the optimizer's ``state``.
            groups: the optimizer's groups (steady steps of groups no longer there are dropped).
        """
        states = [state[p] for p in params]
        names: list[str] = []
        for name, values in per_param.items():
            if name in states[0]:
                names.append(name)
            elif any(isinstance(value, Tensor) for value in values):
                return  # tensors that are not state: nothing to tell that they stay the same
        self.steady = {key: steady for key, steady in self.steady.items()
                       if any(steady.group is other for other in groups)}
        try:
            self.steady[id(group)] = SteadyStep(group, state, params, states, names, runs, arguments, fused)
        except KeyError:  # an entry some parameters lack: the full path each step
            pass

    def plan(
        self, params: list[Tensor], per_param: dict[str, list[Any]], state: Any,
    ) -> tuple[list[FlatRun], list[int]]:
        """Split ``params`` into runs that step as one tensor and the positions that do not.

        Args:
            params: the parameters of one group that have a gradient.
            per_param: the rule's per-parameter lists for them (state tensors, flags).
            state: the optimizer's ``state`` (views into flat state buffers are written into it).
        """
        chunks, rest = self._layout(params)
        runs: list[FlatRun] = []
        for buffer, indices, positions in chunks:
            run = self._run(buffer, indices, positions, per_param, state)
            if run is None:
                rest = rest + positions
            else:
                runs.append(run)
        return runs, sorted(rest)

    def _layout(self, params: list[Tensor]) -> tuple[list[tuple[FlatBuffer, list[int], list[int]]], list[int]]:
        """Which of ``params`` lie back to back in a buffer (as ``(buffer, indices in it,
        positions in params)``, two parameters or more) and which do not. Cached: looking a
        parameter's buffer up costs more than a step's checks."""
        key = (_generation, tuple(map(id, params)))
        cached = self._layouts.get(key)
        if cached is not None:
            return cached
        by_buffer: dict[int, tuple[FlatBuffer, list[tuple[int, int]]]] = {}
        rest: list[int] = []
        for position, p in enumerate(params):
            buffer = _OWNERS.get(p)
            if buffer is None:
                rest.append(position)
            else:
                by_buffer.setdefault(id(buffer), (buffer, []))[1].append((buffer.index[id(p)], position))
        chunks: list[tuple[FlatBuffer, list[int], list[int]]] = []
        for buffer, members in by_buffer.values():
            members.sort()
            for chunk in _consecutive(members, [shape.numel() for shape in buffer.shapes]):
                positions = [position for _, position in chunk]
                if len(chunk) == 1:
                    rest.extend(positions)
                else:
                    chunks.append((buffer, [index for index, _ in chunk], positions))
        if len(self._layouts) > 64:  # parameter sets change (a growing model): keep the cache small
            self._layouts.clear()
        self._layouts[key] = (chunks, rest)
        return chunks, rest

    def _run(self, buffer: FlatBuffer, indices: list[int], positions: list[int],
             per_param: dict[str, list[Any]], state: Any) -> FlatRun | None:
        if not (buffer.data_intact(indices) and buffer.attach_grads(indices)):
            return None
        # Decide before changing anything: a run that falls back must leave the state as it was
        # (the per-tensor step then uses the tensors in `per_param`).
        first, last = indices[0], indices[-1]
        tensors: dict[str, list[Tensor]] = {}
        scalars: dict[str, list[Tensor]] = {}
        shared: dict[str, Any] = {}
        attached: set[str] = set()  # state already held by the flat buffers (the usual step)
        for name, values in per_param.items():
            chosen = _picked(values, positions)
            head = chosen[0]
            if isinstance(head, Tensor) and head.dim() > 0:
                if self._is_attached(buffer, name, indices, chosen):
                    attached.add(name)
                elif not self._fits(buffer, indices, chosen):
                    return None
                tensors[name] = chosen
            elif isinstance(head, Tensor):
                if self._is_attached(buffer, "scalar:" + name, indices, chosen):
                    attached.add(name)
                    span = self._flat[(id(buffer), "scalar:" + name)][0][first:last + 1]
                    if not bool((span == span[0]).all()):  # one comparison over the span
                        return None
                elif not _all_equal_scalars(chosen):
                    return None
                scalars[name] = chosen
            elif all(value == head for value in chosen):  # flags (SGD's first step), numbers
                shared[name] = head
            else:
                return None
        lists: dict[str, list[Any]] = {}
        copy_back: list[tuple[Tensor, Tensor]] = []
        for name in per_param:
            if name in tensors:
                flat = (self._flat[(id(buffer), name)][0] if name in attached
                        else self._attached(buffer, name, indices, tensors[name], state))
                lists[name] = [buffer.span(flat, first, last)]
            elif name in scalars:
                flat, views = (self._flat[(id(buffer), "scalar:" + name)] if name in attached
                               else self._attached_scalars(buffer, name, indices, scalars[name], state))
                lists[name] = [views[first]]
                others = flat[first + 1:last + 1]
                copy_back.append((views[first].expand_as(others), others))
            else:
                lists[name] = [shared[name]]
        return FlatRun(buffer.span(buffer.data, first, last), buffer.span(buffer.grad, first, last),
                       lists, copy_back)

    def _attached_scalars(self, buffer: FlatBuffer, name: str, indices: list[int], values: list[Tensor],
                          state: Any) -> tuple[Tensor, list[Tensor]]:
        """A flat buffer holding the 0-dim ``values`` (one per parameter of ``buffer``, ``step``),
        ``state`` pointing at its 0-dim views: the run's scalars advance in one place and are
        copied to the others with one operation, instead of one per parameter."""
        count = len(buffer.shapes)
        return self._attach(buffer, "scalar:" + name, name, indices, values, state, count,
                            lambda flat: [flat[i] for i in range(count)])

    def _is_attached(self, buffer: FlatBuffer, key_name: str, indices: list[int], values: list[Any]) -> bool:
        """Whether ``values`` are already the views into the flat state buffer ``key_name``."""
        entry = self._flat.get((id(buffer), key_name))
        return entry is not None and all(map(operator.is_, values, _picked(entry[1], indices)))

    @staticmethod
    def _fits(buffer: FlatBuffer, indices: list[int], values: list[Any]) -> bool:
        """Whether ``values`` (state tensors of the parameters at ``indices``) can live in one flat
        buffer: dense, of the parameters' shapes, one dtype and device."""
        head = values[0]
        return all(
            isinstance(value, Tensor) and value.layout == torch.strided and not value.requires_grad
            and value.shape == buffer.shapes[i] and value.dtype == head.dtype and value.device == head.device
            for i, value in zip(indices, values)
        )

    def _attached(self, buffer: FlatBuffer, name: str, indices: list[int], values: list[Tensor],
                  state: Any) -> Tensor:
        """The flat state buffer ``name`` of ``buffer``, holding ``values`` (the state tensors of the
        parameters at ``indices``, which :meth:`_fits`) and with ``state`` pointing at its views."""
        return self._attach(buffer, name, name, indices, values, state, buffer.numel, buffer.views)[0]

    def _attach(self, buffer: FlatBuffer, key_name: str, name: str, indices: list[int], values: list[Tensor],
                state: Any, numel: int, views_of: Callable[[Tensor], list[Tensor]]) -> tuple[Tensor, list[Tensor]]:
        """The flat buffer stored under ``key_name`` (``numel`` elements, split by ``views_of``),
        made or remade when missing or of another dtype or device, with ``values`` copied into the
        views that do not hold them yet and ``state[p][name]`` pointing at the views."""
        key = (id(buffer), key_name)
        entry = self._flat.get(key)
        if entry is not None and all(map(operator.is_, values, _picked(entry[1], indices))):
            return entry
        head = values[0]
        if entry is None or entry[0].dtype != head.dtype or entry[0].device != head.device:
            flat = buffer_zeros(numel, dtype=head.dtype, device=head.device, slot=2 + len(self._flat))
            entry = (flat, views_of(flat))
            self._flat[key] = entry
        views = entry[1]
        with torch.no_grad():
            for i, value in zip(indices, values):
                if value is not views[i]:
                    views[i].copy_(value)
                    state[buffer._refs[i]()][name] = views[i]
        return entry


# Kernels process a tensor in vector blocks from its first element, and the last partial block
# with scalar code that may round otherwise (torch's fused Adam and SGD CPU kernels do). A run of
# parameters stepped as one tensor gives each element exactly its per-tensor arithmetic when every
# parameter but the last is a whole number of blocks: the blocks then start where the parameters
# start, and the one partial block is the run's last, as it was the parameter's. 64 elements is a
# multiple of every vector width (AVX-512 float32: 16).
_BLOCK = 64


def _consecutive(members: list[tuple[int, int]], sizes: list[int]) -> Iterable[list[tuple[int, int]]]:
    """Runs of consecutive buffer indices in ``members`` (sorted ``(index, position)`` pairs) in
    which every parameter but the last has a multiple of :data:`_BLOCK` elements (``sizes``)."""
    run: list[tuple[int, int]] = []
    for member in members:
        if run and (member[0] != run[-1][0] + 1 or sizes[run[-1][0]] % _BLOCK):
            yield run
            run = []
        run.append(member)
    if run:
        yield run


def _picked(values: list[Any], positions: list[int]) -> list[Any]:
    """``values`` at ``positions``: one slice where the positions count up one by one (a run's
    usually do), else one by one. (First and last alone do not tell: [0, 2, 1, 3] spans 0..3 too,
    and a group may list a buffer's parameters in another order than the buffer.)"""
    first = positions[0]
    if positions == list(range(first, first + len(positions))):
        return values[first:first + len(positions)]
    return [values[position] for position in positions]


def _all_equal_scalars(values: list[Tensor]) -> bool:
    head = values[0]
    if len(values) == 1:
        return True
    if any(v.device != head.device or v.dtype != head.dtype for v in values):
        return False
    stacked = torch.stack(values)
    return bool(torch.equal(stacked, head.expand_as(stacked)))

