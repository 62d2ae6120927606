"""How the per-tensor loop cuts its work to the cache: small parameters packed into runs (one rule
call each), large ones stepped in pieces.

An element-wise rule applies its operations one after another, each over every tensor it is
given. Called for one parameter at a time, each operation finds the tensor's operands where the
previous one left them, in cache, as long as the parameter fits there; but every call costs
Python. :func:`cache_sized_runs` packs the small parameters into calls of about a core's cache,
and :func:`cache_sized_pieces` splits a parameter larger than the last-level cache into views of
a size that fits. :class:`Piece` and :class:`PieceEntries` are shared with the compact-state path
(``_lean.lean_update``), which expands a moment a piece at a time around the same rule.

A piece works on exactly the elements, and with exactly the scalars, of its whole tensor: the
numbers do not change (``tests/optim/test_executors.py`` checks them bit for bit against torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "PLAIN_TENSOR_TYPES",
    "Piece",
    "PieceEntries",
    "pieces",
    "cache_sized_runs",
    "cache_sized_pieces",
]

#: Plain tensors and Parameters; a subclass such as DTensor brings its own dispatch and layout.
PLAIN_TENSOR_TYPES = (Tensor, torch.nn.Parameter)

# Elements per rule call of the per-tensor executor (float32: 256 KiB per operand, about a core's
# L2 cache).
LOOP_RUN_ELEMENTS = 1 << 16


def cache_sized_runs(params: Sequence[Tensor], limit: int = LOOP_RUN_ELEMENTS) -> list[list[int]]:
    """Parameters in runs of at most ``limit`` elements: each larger tensor on its own, the smaller
    ones packed together in the order they come, wherever they lie in the list.

    The per-tensor executor calls the rule once per run. One call per parameter cost about twice
    torch's for-loop time on many small tensors (Python overhead: 400 x 64 elements, SGD 5.0 vs
    2.4 ms); one call for the whole group made every operation stream through all parameters
    before the next, losing the cache between the operations on one tensor (148 tensors of 25M
    elements: Adamax 2.5x, Adadelta 2.7x slower). Runs keep both costs small. The small tensors
    need not be neighbours: a rule treats each parameter on its own, so only the number of calls
    changes (a transformer's biases and norm weights lie between its matrices: 51 calls, not 99).

    Example:
        >>> import torch
        >>> sizes = [10, 100, 10, 10, 30]
        >>> cache_sized_runs([torch.empty(n) for n in sizes], limit=25)
        [[0, 2], [1], [3], [4]]
    """
    runs: list[list[int]] = []
    small: list[int] | None = None
    size = 0
    for index, p in enumerate(params):
        numel = p.numel()
        if numel >= limit:
            runs.append([index])
            continue
        if small is None or size + numel > limit:
            small = []
            runs.append(small)
            size = 0
        small.append(index)
        size += numel
    return runs


@dataclass(frozen=True)
class Piece:
    """Entries ``start:end`` of a parameter's flattened tensors, or (``whole``) the tensors as
    they are (a per-tensor rule, or tensors without a flat view)."""

    start: int
    end: int
    whole: bool = False

    def of(self, t: Tensor) -> Tensor:
        return t if self.whole else t.view(-1)[self.start:self.end]


def pieces(numel: int, size: int, *, whole: bool = False) -> list[Piece]:
    """``numel`` entries as pieces of ``size``; one piece when ``whole`` or when they fit.

    Example:
        >>> [(piece.start, piece.end) for piece in pieces(10, 4)]
        [(0, 4), (4, 8), (8, 10)]
    """
    if whole or numel <= size:
        return [Piece(0, numel, whole)]
    return [Piece(start, min(start + size, numel)) for start in range(0, numel, size)]


class PieceEntries:
    """One parameter's per-parameter entries (state tensors, counters, flags) as each of its
    ``count`` pieces sees them.

    A tensor of the parameter's shape is cut to the piece. A 0-dim counter (``step``, ASGD's
    ``eta``) advances once per parameter: the first piece gets the counter itself, the others a
    copy of its value before the step, whose update is dropped, so every piece computes its
    scalars (bias corrections) from the same count. Anything else passes as it is.

    Example:
        >>> import torch
        >>> step, avg = torch.tensor(3.0), torch.arange(6.0)
        >>> entries = PieceEntries({"step": step, "avg": avg, "flag": True}, count=2)
        >>> first, second = (entries.at(piece, last=i == 1) for i, piece in enumerate(pieces(6, 3)))
        >>> first["step"] is step, second["step"] is step, second["avg"].tolist(), second["flag"]
        (True, False, [3.0, 4.0, 5.0], True)
    """

    def __init__(self, entries: dict[str, Any], count: int) -> None:
        self.entries = entries
        # The counters' values before any piece advances them.
        self.before = {name: value.clone() for name, value in entries.items()
                       if count > 1 and isinstance(value, Tensor) and value.dim() == 0}

    def at(self, piece: Piece, *, last: bool) -> dict[str, Any]:
        """The entries for ``piece`` (``last``: the final piece, which may keep the copy itself)."""
        out: dict[str, Any] = {}
        for name, value in self.entries.items():
            before = self.before.get(name)
            if before is not None:
                out[name] = value if piece.start == 0 else before if last else before.clone()
            elif isinstance(value, Tensor) and value.dim() != 0:
                out[name] = piece.of(value)
            else:
                out[name] = value
        return out


# The per-tensor executor steps a tensor of more than PIECED_ABOVE elements in pieces of
# PIECE_ELEMENTS (float32: 4 MiB per operand). Measured on one 33.5M-element tensor, ms per
# step, whole tensor -> pieces of 2^18 / 2^19 / 2^20 elements: Adamax 72.7 -> 32.0 / 29.3 / 30.6,
# Adadelta 134.7 -> 52.4 / 46.9 / 46.5, NAdam 92.1 -> 44.7 / 40.9 / 40.2. Each piece is a rule call
# (then about 25 us of Python): on a 3.1M-element embedding, pieces of 2^19 made ASGD, whose rule
# is a few light passes, 2-5% slower, hence the larger pieces and the threshold of four of them.
PIECE_ELEMENTS = 1 << 20
PIECED_ABOVE = 4 * PIECE_ELEMENTS


def _pieceable(p: Tensor, g: Tensor, entries: Iterable[Any]) -> bool:
    """Whether ``p`` may be stepped piece by piece: a plain dense real tensor whose gradient and
    state tensors are contiguous tensors of its shape, besides 0-dim counters and plain values."""
    if type(p) not in PLAIN_TENSOR_TYPES or p.is_complex() or not p.is_contiguous():
        return False
    if type(g) not in PLAIN_TENSOR_TYPES or g.layout != torch.strided or g.shape != p.shape or not g.is_contiguous():
        return False
    for entry in entries:
        if isinstance(entry, Tensor) and entry.dim() != 0 and not (
            type(entry) in PLAIN_TENSOR_TYPES and entry.shape == p.shape and entry.is_contiguous()
        ):
            return False
    return True


def cache_sized_pieces(
    params: list[Tensor], grads: list[Tensor], per_param: dict[str, list[Any]],
    limit: int = PIECE_ELEMENTS, above: int = PIECED_ABOVE,
) -> tuple[list[Tensor], list[Tensor], dict[str, list[Any]]]:
    """The lists with each parameter of more than ``above`` elements split into pieces of ``limit``.

    On a tensor larger than the cache every operation of a rule is a pass over RAM (Adamax: about
    nine). Over pieces that fit in the cache the later operations find their operands there, so
    the rule runs at close to one pass per operand (Adamax on 33.5M elements: 73 -> 29 ms), with
    the same arithmetic on every element (see :class:`PieceEntries` for the counters).

    Example:
        >>> import torch
        >>> p, g, step = torch.zeros(10), torch.ones(10), torch.tensor(0.0)
        >>> ps, gs, lists = cache_sized_pieces([p], [g], {"step": [step]}, limit=4, above=8)
        >>> [t.numel() for t in ps], lists["step"][0] is step, lists["step"][1] is step
        ([4, 4, 2], True, False)
    """
    if all(p.numel() <= above for p in params):
        return params, grads, per_param
    out_params: list[Tensor] = []
    out_grads: list[Tensor] = []
    out_lists: dict[str, list[Any]] = {name: [] for name in per_param}
    for index, (p, g) in enumerate(zip(params, grads)):
        entries = {name: values[index] for name, values in per_param.items()}
        if p.numel() <= above or not _pieceable(p, g, entries.values()):
            out_params.append(p)
            out_grads.append(g)
            for name, value in entries.items():
                out_lists[name].append(value)
            continue
        cuts = pieces(p.numel(), limit)
        views = PieceEntries(entries, len(cuts))
        for number, piece in enumerate(cuts):
            out_params.append(piece.of(p))
            out_grads.append(piece.of(g))
            for name, value in views.at(piece, last=number == len(cuts) - 1).items():
                out_lists[name].append(value)
    return out_params, out_grads, out_lists
