"""Pure mask arithmetic: how many entries a level prunes, which ones, drop and grow.

A mask is a bool tensor shaped like its parameter, ``True`` where the entry is kept. Nothing here
changes its inputs: every function returns a new mask.

Example:
    >>> import torch
    >>> from optimkit.sparsity._masks import keep_largest, pruned_count
    >>> w = torch.tensor([[0.1, -3.0], [2.0, 0.5]])
    >>> pruned_count(w.numel(), 0.5)
    2
    >>> keep_largest(w.abs(), 2).tolist()
    [[False, True], [True, False]]
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["drop_smallest", "grow_largest", "keep_largest", "magnitude", "pruned_count"]


def pruned_count(numel: int, sparsity: float) -> int:
    """Entries of a ``numel``-element tensor that ``sparsity`` prunes: :math:`\\lfloor s n + 1/2
    \\rfloor` (round half up, the same on every platform), at most ``numel``."""
    return min(numel, int(math.floor(sparsity * numel + 0.5)))


def magnitude(p: Tensor) -> Tensor:
    """``|p|`` as float32 or wider (complex entries by their modulus), detached: a score to rank
    entries by."""
    score = p.detach().abs()
    return score if score.is_floating_point() and score.dtype in (torch.float32, torch.float64) else score.float()


def keep_largest(score: Tensor, k: int, among: Tensor | None = None) -> Tensor:
    """The mask keeping the ``k`` entries of highest ``score`` (of those where ``among`` is
    ``True``, when given; ``k`` at most their number). Ties are broken by ``torch.topk``, which
    is deterministic for the same input on the same device."""
    flat = score.reshape(-1)
    if among is not None:
        flat = flat.masked_fill(~among.reshape(-1), -math.inf)
    mask = torch.zeros(flat.shape, dtype=torch.bool, device=score.device)
    if k > 0:
        mask[torch.topk(flat, k, sorted=False).indices] = True
    return mask.view(score.shape)


def drop_smallest(weights: Tensor, mask: Tensor, count: int) -> Tensor:
    """``mask`` without its ``count`` kept entries of smallest magnitude in ``weights``."""
    kept = int(mask.sum())
    return keep_largest(magnitude(weights), max(kept - count, 0), among=mask)


def grow_largest(score: Tensor, mask: Tensor, count: int) -> Tensor:
    """``mask`` with the ``count`` pruned entries of highest ``score`` kept as well."""
    grown = keep_largest(score, min(count, mask.numel() - int(mask.sum())), among=~mask)
    return mask | grown
