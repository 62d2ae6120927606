"""The memory of L-BFGS: the last few curvature pairs and the inverse Hessian they stand for.

Written from Nocedal & Wright, "Numerical Optimization" (2nd ed.), section 7.2: algorithm 7.4
(the two-loop recursion) and the update of algorithm 7.5. The lists are kept in the layout of
``torch.optim.LBFGS``'s state (oldest pair first, ``1 / y.s`` as 0-dim tensors), so that
:class:`~optimkit.optim.LBFGS` can hand them to ``state_dict`` as they are.
"""

from __future__ import annotations

from typing import Any, Union

import torch
from torch import Tensor

__all__ = ["CurvatureHistory", "MIN_CURVATURE"]

# A pair is only remembered when its curvature y.s is clearly positive: otherwise the BFGS
# update would lose positive definiteness (and 1 / y.s would blow up). torch's threshold.
MIN_CURVATURE = 1e-10

# gamma is the Python int 1 until the first pair arrives, then a 0-dim tensor (torch's `H_diag`).
Scale = Union[int, float, Tensor]


class CurvatureHistory:
    """At most ``capacity`` pairs ``(s, y)`` of a step and the gradient change it caused, oldest
    first, with ``rho = 1 / (y.s)`` for each and the scale ``gamma = y.s / y.y`` of the newest
    pair, which stands for the initial inverse Hessian ``H0 = gamma I``.

    The three lists are plain Python lists owned by this object; :class:`LBFGS` stores them in its
    state under torch's names (``old_stps``: ``steps``, ``old_dirs``: ``grad_changes``, ``ro``:
    ``rho``, ``H_diag``: ``gamma``).

    Example:
        >>> import torch
        >>> memory = CurvatureHistory(capacity=2)
        >>> g = torch.tensor([1.0, 4.0], dtype=torch.float64)
        >>> memory.inverse_times(g, [None, None]).tolist()  # no pair yet: H = I
        [-1.0, -4.0]
        >>> # On f(x) = x0^2 + 2 x1^2 (Hessian diag(2, 4)) a step s changes the gradient by A s.
        >>> for s in (torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])):
        ...     s = s.double()
        ...     _ = memory.offer(s, s * torch.tensor([2.0, 4.0], dtype=torch.float64))
        >>> memory.inverse_times(g, [None, None]).tolist()  # now -A^{-1} g exactly
        [-0.5, -1.0]
    """

    def __init__(self, capacity: int, steps: list[Tensor] | None = None,
                 grad_changes: list[Tensor] | None = None, rho: list[Tensor] | None = None,
                 gamma: Scale = 1) -> None:
        self.capacity = capacity
        self.steps: list[Tensor] = [] if steps is None else steps
        self.grad_changes: list[Tensor] = [] if grad_changes is None else grad_changes
        self.rho: list[Tensor] = [] if rho is None else rho
        self.gamma: Scale = gamma
        if not len(self.steps) == len(self.grad_changes) == len(self.rho):
            raise ValueError("CurvatureHistory: steps, grad_changes and rho differ in length: "
                             f"{len(self.steps)}, {len(self.grad_changes)}, {len(self.rho)}")

    def __len__(self) -> int:
        return len(self.steps)

    def offer(self, s: Tensor, y: Tensor) -> bool:
        """Remember the pair ``(s, y)`` if its curvature ``y.s`` exceeds :data:`MIN_CURVATURE`,
        forgetting the oldest pair when full; returns whether it was kept. A kept pair also sets
        ``gamma`` (the scaling of N&W eq. 7.20)."""
        curvature = y.dot(s)
        if not curvature > MIN_CURVATURE:
            return False
        if len(self) >= self.capacity:
            for memory in (self.steps, self.grad_changes, self.rho):
                del memory[0]
        self.steps.append(s)
        self.grad_changes.append(y)
        self.rho.append(1.0 / curvature)
        self.gamma = curvature / y.dot(y)
        return True

    def inverse_times(self, grad: Tensor, alphas: list[Any]) -> Tensor:
        """``-H g``: the L-BFGS inverse Hessian approximation applied to ``grad`` and negated,
        that is the search direction, by the two-loop recursion (N&W algorithm 7.4) run on
        ``-g`` so that no final negation is needed.

        ``alphas`` (at least ``len(self)`` slots, torch's ``al``) receives the first loop's
        coefficients ``alpha_i = rho_i s_i.q``, slot ``i`` for pair ``i``; the second loop reads
        them back. The result is a new tensor; ``grad`` is not modified.
        """
        newest_first = range(len(self) - 1, -1, -1)
        # First loop, newest pair to oldest: strip each pair's contribution off q.
        q = grad.neg()
        for i in newest_first:
            alphas[i] = self.steps[i].dot(q) * self.rho[i]
            q.add_(self.grad_changes[i], alpha=-alphas[i])
        # The initial approximation H0 = gamma I, then the second loop, oldest pair to newest,
        # adds back (alpha_i - beta_i) s_i with beta_i = rho_i y_i.r.
        r = torch.mul(q, self.gamma)
        for alpha, s, y, rho in zip(alphas, self.steps, self.grad_changes, self.rho):
            correction = alpha - y.dot(r) * rho
            r.add_(s, alpha=correction)
        return r
