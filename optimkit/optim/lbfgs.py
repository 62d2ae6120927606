"""L-BFGS (limited-memory BFGS), optionally with a strong Wolfe line search."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch import Tensor

from ..registry import register_optimizer
from . import _validation as v
from ._docs import args_doc
from ._executor import squeezed
from .optimizer import GLOBAL_STEP_KEY, Optimizer, ParamsT

__all__ = ["LBFGS", "cubic_minimizer", "strong_wolfe"]

# A step length or a slope: a Python number, or a 0-dim tensor once it has been computed from the
# flat gradient. torch keeps whichever type the arithmetic yields (and so does this module, so
# that `t`, `H_diag` and friends in the state have torch's types and dtypes).
Scalar = Union[float, Tensor]


def _sqrt(x: Scalar) -> Scalar:
    return x.sqrt() if isinstance(x, Tensor) else math.sqrt(x)


def cubic_minimizer(
    x1: Scalar, f1: Scalar, g1: Scalar, x2: Scalar, f2: Scalar, g2: Scalar,
    bounds: tuple[Scalar, Scalar] | None = None,
) -> Scalar:
    """Where the cubic through two points, given by value ``f`` and slope ``g`` at ``x``, has its
    minimum, clamped to ``bounds`` (by default the interval between the two points).

    When the cubic has no local minimum (negative discriminant) the middle of the bounds is
    returned instead.

    Example:
        >>> # f(x) = (x - 1)^2 has its minimum at 1; the cubic through x=0 and x=3 is f itself.
        >>> float(cubic_minimizer(0.0, 1.0, torch.tensor(-2.0), 3.0, 4.0, torch.tensor(4.0)))
        1.0
    """
    if bounds is None:
        bounds = (x1, x2) if x1 <= x2 else (x2, x1)
    low, high = bounds
    # d1 and the discriminant do not depend on which point is called first.
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    discriminant = d1**2 - g1 * g2
    if not discriminant >= 0:  # also catches a NaN discriminant
        return (low + high) / 2.0
    d2 = _sqrt(discriminant)
    # Measured back from the point further right (a, b: the left and right point).
    (xa, ga), (xb, gb) = ((x1, g1), (x2, g2)) if x1 <= x2 else ((x2, g2), (x1, g1))
    minimum = xb - (xb - xa) * ((gb + d2 - d1) / (gb - ga + 2 * d2))
    return min(max(minimum, low), high)


@dataclass
class _Trial:
    """One point tried along the search direction: step length, loss, gradient, slope."""

    t: Scalar
    f: float
    g: Tensor
    slope: Scalar | None


def strong_wolfe(
    evaluate: Callable[[Scalar], tuple[float, Tensor]],
    t: Scalar,
    d: Tensor,
    f: float,
    g: Tensor,
    gtd: Scalar,
    *,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Tensor, Scalar, int]:
    """Find a step length along ``d`` that satisfies the strong Wolfe conditions.

    The search first brackets an acceptable step, extrapolating with cubic interpolation
    (Nocedal & Wright, "Numerical Optimization", algorithm 3.5), then shrinks the bracket
    ("zoom", algorithm 3.6), interpolating again and stepping away from bracket ends that make
    too little progress. It behaves as torch's LBFGS line search (itself a port of
    ``lswolfe.lua`` from Lua torch), quirks included.

    Args:
        evaluate: ``evaluate(t)`` returns the loss and the flat gradient at ``x + t d``.
        t: the first step length to try.
        d: the search direction (flat).
        f, g, gtd: loss, flat gradient and slope ``g . d`` at ``t = 0``.
        c1: sufficient decrease (Armijo) constant.
        c2: curvature constant.
        tolerance_change: stop when the bracket is shorter than this (scaled by ``max |d|``).
        max_ls: the most evaluations the search may spend after the first.

    Returns:
        The loss, flat gradient and step length of the best point found, and the number of
        evaluations made.
    """
    d_scale = d.abs().max()

    def too_high(step: Scalar, loss: float) -> bool:  # the Armijo condition fails
        return bool(loss > f + c1 * step * gtd)

    def flat_enough(slope: Scalar) -> bool:  # the strong curvature condition holds
        return bool(abs(slope) <= -c2 * gtd)

    def trial(step: Scalar) -> _Trial:
        loss, grad = evaluate(step)
        return _Trial(step, loss, grad, grad.dot(d))

    def kept(point: _Trial) -> _Trial:
        # The evaluation's gradient buffer may be reused by the caller: keep a copy.
        return _Trial(point.t, point.f, point.g.clone(memory_format=torch.contiguous_format), point.slope)

    start = _Trial(0, f, g.clone(memory_format=torch.contiguous_format), gtd)
    previous = start
    current = trial(t)
    evaluations = 1
    tries = 0
    satisfied = False
    bracket: list[_Trial] = []

    # Phase 1: walk out until an interval is known to hold an acceptable step.
    while tries < max_ls:
        if too_high(current.t, current.f) or (tries > 1 and current.f >= previous.f):
            bracket = [previous, kept(current)]
            break
        if flat_enough(current.slope):  # type: ignore[arg-type]
            bracket = [current]
            satisfied = True
            break
        if current.slope >= 0:  # type: ignore[operator]
            bracket = [previous, kept(current)]
            break
        # Still descending: extrapolate, at least a little and at most tenfold further.
        lower = current.t + 0.01 * (current.t - previous.t)
        upper = current.t * 10
        step = cubic_minimizer(previous.t, previous.f, previous.slope, current.t, current.f, current.slope,  # type: ignore[arg-type]
                               bounds=(lower, upper))
        previous = kept(current)
        current = trial(step)
        evaluations += 1
        tries += 1

    if tries == max_ls:
        # Out of evaluations while walking out: choose between the start and the last point.
        # (torch leaves the slopes of this bracket unset; the zoom below never runs then.)
        bracket = [_Trial(0, f, start.g, None), _Trial(current.t, current.f, current.g, None)]

    # Phase 2: shrink the bracket around a point that satisfies both conditions. `low` indexes
    # the end with the lower loss, `high` the other one.
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    stalled = False
    while not satisfied and tries < max_ls:
        if abs(bracket[1].t - bracket[0].t) * d_scale < tolerance_change:
            break
        a, b = bracket
        step = cubic_minimizer(a.t, a.f, a.slope, b.t, b.f, b.slope)  # type: ignore[arg-type]
        left, right = min(a.t, b.t), max(a.t, b.t)
        margin = 0.1 * (right - left)
        if min(right - step, step - left) < margin:
            # Too close to an end: accept that once, but if it happens twice in a row (or the
            # step falls on or outside an end) move it a tenth of the bracket inside.
            if stalled or step >= right or step <= left:
                step = right - margin if abs(step - right) < abs(step - left) else left + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False

        current = kept(trial(step))
        evaluations += 1
        tries += 1

        if too_high(current.t, current.f) or current.f >= bracket[low].f:
            bracket[high] = current
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if flat_enough(current.slope):  # type: ignore[arg-type]
                satisfied = True
            elif current.slope * (bracket[high].t - bracket[low].t) >= 0:  # type: ignore[operator]
                bracket[high] = bracket[low]
            bracket[low] = current

    best = bracket[low]
    return best.f, best.g, best.t, evaluations


def _real_flat_dtype(params: list[Tensor]) -> torch.dtype:
    """The dtype of the flat gradient: ``torch.cat`` promotes the (real views of the) gradients."""
    dtypes = [torch.view_as_real(p).dtype if p.is_complex() else p.dtype for p in params]
    return functools.reduce(torch.promote_types, dtypes)


def _store(buffer: Any, value: Tensor) -> Tensor:
    """``value``, written into ``buffer`` when that is a tensor able to hold it (so a
    pre-initialised or earlier direction is reused instead of reallocated)."""
    if (isinstance(buffer, Tensor) and buffer.shape == value.shape and buffer.dtype == value.dtype
            and buffer.device == value.device):
        return buffer.copy_(value)
    return value


@register_optimizer(
    "lbfgs",
    description="L-BFGS quasi-Newton method over all parameters as one vector, with an optional strong Wolfe line search.",
    supports_foreach=False,
    supports_differentiable=False,
    supports_complex=True,
    supports_sparse=True,
    torch_name="LBFGS",
)
class LBFGS(Optimizer):
    # L-BFGS is not an element-wise rule over a list of tensors, so it has no `_rule` for the
    # executor and overrides `step` itself: it treats all parameters as one flat vector (dot
    # products across every parameter, a history of past steps), re-evaluates the closure
    # several times per step, and keeps one global state on the first parameter.

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        v.validate((v.LR,), {"lr": lr})
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    # ------------------------------------------------------------------ the parameters as a vector
    def _params(self) -> list[Tensor]:
        return self.param_groups[0]["params"]

    def _flat_grad(self) -> Tensor:
        """Every gradient, flattened and joined (zeros for a missing one, real and imaginary
        parts side by side for complex parameters, sparse gradients made dense)."""
        pieces = []
        for p in self._params():
            if p.grad is None:
                piece = torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
            elif p.grad.is_sparse:
                piece = p.grad.to_dense().view(-1)
            else:
                piece = p.grad.view(-1)
            if piece.is_complex():
                piece = torch.view_as_real(piece).view(-1)
            pieces.append(piece)
        return torch.cat(pieces, 0)

    def _move(self, step: Scalar, direction: Tensor) -> None:
        """``params += step * direction``, with ``direction`` split back into the parameters."""
        offset = 0
        for p in self._params():
            target = torch.view_as_real(p) if p.is_complex() else p
            count = target.numel()
            target.add_(direction[offset:offset + count].view_as(target), alpha=step)
            offset += count

    def _evaluate_at(self, closure: Callable[[], Any], origin: list[Tensor], step: Scalar,
                     direction: Tensor) -> tuple[float, Tensor]:
        """Loss and flat gradient at ``origin + step * direction``; the parameters are put back."""
        self._move(step, direction)
        loss = float(closure())
        grad = self._flat_grad()
        for p, saved in zip(self._params(), origin):
            p.copy_(saved)
        return loss, grad

    # ------------------------------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations.

        Args:
            closure: re-evaluates the model and returns the loss (required); it is called with
                autograd enabled.

        Returns:
            The loss of the first evaluation of ``closure`` (before the parameters moved).
        """
        if len(self.param_groups) != 1:
            raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        lr = squeezed(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        line_search_fn = group["line_search_fn"]

        # All of L-BFGS's state is global; like torch it lives on the first parameter, which lets
        # load_state_dict move it to that parameter's device and dtype.
        state = self.state[self._params()[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        first_loss = closure()
        loss = float(first_loss)
        evals_now = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if flat_grad.abs().max() <= tolerance_grad:
            self._count_global_step()
            return first_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        iteration = 0
        while iteration < max_iter:
            iteration += 1
            state["n_iter"] += 1

            # ---- search direction
            if state["n_iter"] == 1:
                d = _store(d, flat_grad.neg())
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                # Remember the last step s and the change y of the gradient it caused, when the
                # pair keeps the approximation positive definite (curvature y.s clearly > 0).
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(t)
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                if "al" not in state:
                    state["al"] = [None] * history_size
                d = _store(d, self._two_loop(flat_grad, old_dirs, old_stps, ro, H_diag, state["al"]))

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            # ---- step length: scaled down on the very first iteration, lr afterwards
            t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction (any more)
                break

            spent = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                origin = [p.clone(memory_format=torch.contiguous_format) for p in self._params()]
                direction = d

                def evaluate(step: Scalar) -> tuple[float, Tensor]:
                    return self._evaluate_at(closure, origin, step, direction)

                # torch passes the search neither c1/c2 nor the group's tolerance_change: the
                # search keeps its own defaults.
                loss, flat_grad, t, spent = strong_wolfe(evaluate, t, d, loss, flat_grad, gtd,
                                                         max_ls=max_eval - evals_now)
                self._move(t, d)
                converged = flat_grad.abs().max() <= tolerance_grad
            else:
                self._move(t, d)
                if iteration != max_iter:
                    # The last iteration skips the evaluation: the next step() makes it anyway.
                    loss = float(closure())
                    flat_grad = self._flat_grad()
                    converged = flat_grad.abs().max() <= tolerance_grad
                    spent = 1

            evals_now += spent
            state["func_evals"] += spent

            # ---- stopping tests
            if iteration == max_iter or evals_now >= max_eval or converged:
                break
            if d.mul(t).abs().max() <= tolerance_change:  # the step hardly moves anything
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        self._count_global_step()
        return first_loss

    @staticmethod
    def _two_loop(flat_grad: Tensor, old_dirs: list[Tensor], old_stps: list[Tensor], ro: list[Tensor],
                  H_diag: Scalar, al: list[Any]) -> Tensor:
        """The L-BFGS direction ``-H g``: the inverse Hessian approximation built from the stored
        pairs applied to the gradient, with the two-loop recursion (Nocedal & Wright, alg. 7.4).
        ``al`` receives the coefficients of the first loop."""
        q = flat_grad.neg()
        for i in reversed(range(len(old_dirs))):
            al[i] = old_stps[i].dot(q) * ro[i]
            q.add_(old_dirs[i], alpha=-al[i])
        r = torch.mul(q, H_diag)
        for i in range(len(old_dirs)):
            be_i = old_dirs[i].dot(r) * ro[i]
            r.add_(old_stps[i], alpha=al[i] - be_i)
        return r

    def _count_global_step(self) -> None:
        if self.enable_global_step:
            for p in self._params():
                if p.grad is not None:
                    self.increment_global_step(p)

    # --------------------------------------------------------------------------- Cerebras API
    def preinitialize(self) -> None:
        """Create L-BFGS's state now instead of in the first ``step()``.

        Allocated: the flat direction ``d`` and previous gradient ``prev_flat_grad`` (one entry
        per real scalar of the parameters), the two-loop coefficients ``al``
        (``history_size`` slots) and the counters; later steps write ``d`` and
        ``prev_flat_grad`` in place. ``t`` and ``prev_loss`` stay ``None`` until the first
        iteration sets them (they are only read after that).

        The history itself (``old_dirs``, ``old_stps``, ``ro``) cannot be allocated ahead: in
        torch's state layout, which ``state_dict`` shares with ``torch.optim.LBFGS``, the
        *length* of these lists is the number of stored pairs, and a full history drops its
        oldest tensors. Pre-filled lists would be read as ``history_size`` real (zero) pairs by
        torch and change the algorithm. They start empty, as after torch's first iteration.

        Example:
            >>> import torch
            >>> from optimkit.optim import LBFGS
            >>> w = torch.nn.Parameter(torch.zeros(3))
            >>> opt = LBFGS([w], history_size=4)
            >>> opt.preinitialize()
            >>> opt.state[w]["d"].shape, len(opt.state[w]["al"]), opt.state[w]["old_dirs"]
            (torch.Size([3]), 4, [])
        """
        params = self._params()
        group = self.param_groups[0]
        numel = sum(2 * p.numel() if p.is_complex() else p.numel() for p in params)
        like = {"dtype": _real_flat_dtype(params), "device": params[0].device}
        state = self.state[params[0]]
        fresh: dict[str, Any] = {
            "func_evals": 0,
            "n_iter": 0,
            "d": torch.zeros(numel, **like),
            "t": None,
            "old_dirs": [],
            "old_stps": [],
            "ro": [],
            "H_diag": 1,
            "prev_flat_grad": torch.zeros(numel, **like),
            "prev_loss": None,
            "al": [None] * group["history_size"],
        }
        for key, value in fresh.items():
            state.setdefault(key, value)
        if self.enable_global_step:
            for p in params:
                self.state[p].setdefault(GLOBAL_STEP_KEY, torch.zeros((), dtype=torch.float32, device=p.device))

    def state_names_to_sparsify(self) -> list[str]:
        """None: L-BFGS keeps flat vectors over all parameters at once (``d``,
        ``prev_flat_grad``, the history), never a state shaped like one parameter, so there is
        nothing a sparsity algorithm could mask together with a weight.

        Example:
            >>> import torch
            >>> from optimkit.optim import LBFGS
            >>> LBFGS([torch.nn.Parameter(torch.zeros(3))]).state_names_to_sparsify()
            []
        """
        return []


LBFGS.__doc__ = r"""L-BFGS (Liu & Nocedal, 1989), as ``torch.optim.LBFGS``.

All parameters are treated as one vector :math:`x` (complex ones as pairs of reals). Each call
``step(closure)`` runs up to ``max_iter`` iterations:

.. math::
   \begin{aligned}
   & s_{k-1} = t_{k-1} d_{k-1}, \quad y_{k-1} = g_k - g_{k-1}, \quad
     \text{kept (at most } m \text{ pairs) when } y_{k-1}^\top s_{k-1} > 10^{-10} \\
   & H^0_k = \frac{y^\top s}{y^\top y} \text{ of the newest kept pair} \ (1 \text{ before any}), \qquad
     d_k = -H_k\, g_k \ \text{(two-loop recursion over the kept pairs; } d_1 = -g_1) \\
   & t_k = \begin{cases} \min(1, 1/\lVert g_1\rVert_1)\,\gamma & k = 1 \\ \gamma & k > 1 \end{cases}
     \ \text{or a step satisfying the strong Wolfe conditions (line search)} \\
   & x_{k+1} = x_k + t_k d_k
   \end{aligned}

with learning rate :math:`\gamma` and history size :math:`m`. The strong Wolfe conditions are
:math:`f(x + t d) \le f(x) + c_1 t\, g^\top d` and :math:`|g(x + t d)^\top d| \le c_2 |g^\top d|`
with :math:`c_1 = 10^{-4}, c_2 = 0.9`; the line search brackets such a step and refines it by
cubic interpolation (Nocedal & Wright, "Numerical Optimization", 2nd ed., section 3.5).
Iterations stop early when :math:`\max_i |g_i| \le` ``tolerance_grad``, when the step, the
directional derivative or the change of the loss falls below ``tolerance_change``, or after
``max_eval`` evaluations of the closure.

Only one parameter group is allowed, ``step`` requires a closure, and all parameters must be on
one device. The state (on the first parameter, as in torch) holds ``func_evals``, ``n_iter``,
``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss`` and
``al``; it needs about ``(2 * history_size + 2)`` times the memory of the parameters.

""" + args_doc(
    {
        "lr": "lr (float, Tensor, optional): step length of each iteration, or the first step the line search tries (default: 1).",
        "max_iter": "max_iter (int, optional): most iterations per ``step()`` (default: 20).",
        "max_eval": "max_eval (int, optional): most closure evaluations per ``step()`` (default: ``max_iter * 5 // 4``).",
        "tolerance_grad": "tolerance_grad (float, optional): stop when the largest gradient entry is at most this (default: 1e-7).",
        "tolerance_change": "tolerance_change (float, optional): stop when the step, the directional derivative or the loss change is below this (default: 1e-9).",
        "history_size": "history_size (int, optional): how many (step, gradient change) pairs to remember (default: 100).",
        "line_search_fn": "line_search_fn (str, optional): ``\"strong_wolfe\"`` or ``None`` for fixed steps (default: None).",
    },
    ["params", "lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size", "line_search_fn"],
    {},
) + r"""

Example:
    >>> import torch
    >>> from optimkit.optim import LBFGS
    >>> x = torch.nn.Parameter(torch.tensor([-1.5, 2.0], dtype=torch.float64))
    >>> def closure():
    ...     loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2  # Rosenbrock
    ...     x.grad = None
    ...     loss.backward()
    ...     return loss
    >>> opt = LBFGS([x], line_search_fn="strong_wolfe")
    >>> for _ in range(5):
    ...     _ = opt.step(closure)
    >>> [round(v, 4) for v in x.tolist()]
    [1.0, 1.0]
"""
