"""Sparse COO gradients (``nn.Embedding(sparse=True)``): the few operations the rules need.

A rule that takes sparse gradients works on the rows a gradient stores: it reads the dense state
at those rows, computes on the stored values, and adds the results back at the same rows. There
are no foreach kernels for sparse tensors, and every gradient has rows of its own, so these are
plain per-tensor functions (SparseAdam's rule and Adagrad's sparse update share them).

Example:
    >>> import torch
    >>> dense = torch.zeros(3, 2)
    >>> rows = torch.tensor([[2, 0, 2]])
    >>> grad = torch.sparse_coo_tensor(rows, torch.ones(3, 2), (3, 2), check_invariants=True).coalesce()
    >>> add_at_(dense, grad, grad._values() * 10)
    >>> values_at(dense, grad)  # rows 0 and 2 (row 2 was stored twice: summed by coalesce)
    tensor([[10., 10.],
            [20., 20.]])
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["values_at", "add_at_"]


def values_at(dense: Tensor, grad: Tensor) -> Tensor:
    """The rows of ``dense`` at the indices of the coalesced sparse ``grad``, in its order."""
    return dense.sparse_mask(grad)._values()


def add_at_(dense: Tensor, grad: Tensor, values: Tensor, alpha: float | Tensor = 1) -> None:
    """``dense[rows] += alpha * values``, the rows being those of the coalesced sparse ``grad``."""
    # The indices come from a valid coalesced tensor: no need to re-check them. (Passing
    # is_coalesced=True instead makes this about 1000x slower on the CPU.)
    dense.add_(torch.sparse_coo_tensor(grad._indices(), values, grad.shape, check_invariants=False), alpha=alpha)
