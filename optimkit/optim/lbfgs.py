"""L-BFGS (limited-memory BFGS), optionally with a strong Wolfe line search."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import torch
from torch import Tensor

from . import _validation as v
from ._declaration import register
from ._docs import args_doc
from ._executor import squeezed
from ._lbfgs_history import CurvatureHistory
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


def _as_real_vector(tensor: Tensor) -> Tensor:
    """``tensor`` as a 1-D view of real numbers: densified if sparse, a complex entry as its
    real and imaginary parts side by side."""
    vector = (tensor.to_dense() if tensor.is_sparse else tensor).view(-1)
    return torch.view_as_real(vector).view(-1) if vector.is_complex() else vector


@dataclass
class _Settings:
    """The (single) parameter group's options, read once per ``step()``."""

    lr: Scalar
    max_iter: int
    max_eval: int
    tolerance_grad: float
    tolerance_change: float
    history_size: int
    line_search_fn: str | None

    @classmethod
    def of(cls, group: dict[str, Any]) -> _Settings:
        return cls(lr=squeezed(group["lr"]), max_iter=group["max_iter"], max_eval=group["max_eval"],
                   tolerance_grad=group["tolerance_grad"], tolerance_change=group["tolerance_change"],
                   history_size=group["history_size"], line_search_fn=group["line_search_fn"])


@dataclass
class _Carried:
    """What one ``step()`` hands to the next through the optimizer state: the last search
    direction and step length (together the last step ``s = t d``), the curvature history, and
    the gradient and loss where the last iteration started (for ``y`` and the progress test)."""

    direction: Tensor | None
    step_length: Scalar | None
    history: CurvatureHistory | None
    prev_grad: Tensor | None
    prev_loss: float | None


def _load_carried(state: dict[str, Any], capacity: int) -> _Carried:
    """The carried quantities from torch's state keys (absent before the first iteration)."""
    history = None
    if state.get("old_dirs") is not None:
        history = CurvatureHistory(capacity, steps=state["old_stps"], grad_changes=state["old_dirs"],
                                   rho=state["ro"], gamma=state.get("H_diag", 1))
    return _Carried(state.get("d"), state.get("t"), history, state.get("prev_flat_grad"), state.get("prev_loss"))


def _save_carried(carried: _Carried, state: dict[str, Any]) -> None:
    """Back into torch's keys, in torch's order (``state_dict`` comparisons see the order)."""
    history = carried.history
    state.update(
        d=carried.direction,
        t=carried.step_length,
        old_dirs=history.grad_changes if history is not None else None,
        old_stps=history.steps if history is not None else None,
        ro=history.rho if history is not None else None,
        H_diag=history.gamma if history is not None else None,
        prev_flat_grad=carried.prev_grad,
        prev_loss=carried.prev_loss,
    )


def _stop_reason(settings: _Settings, iteration: int, evaluations: int, grad: Tensor, direction: Tensor,
                 step_length: Scalar, loss_change: float) -> str | None:
    """Why the iterations of this ``step()`` end after the current one, or ``None`` to go on.
    The step just taken is ``step_length * direction``; ``grad`` is the gradient where it led."""
    if iteration == settings.max_iter:
        return "max_iter iterations done"
    if evaluations >= settings.max_eval:
        return "max_eval evaluations spent"
    if grad.abs().max() <= settings.tolerance_grad:
        return "gradient below tolerance_grad"
    if direction.mul(step_length).abs().max() <= settings.tolerance_change:
        return "step below tolerance_change"
    if abs(loss_change) < settings.tolerance_change:
        return "loss change below tolerance_change"
    return None


@register(
    "lbfgs",
    description="L-BFGS quasi-Newton method over all parameters as one vector, with an optional strong Wolfe line search.",
    torch_name="LBFGS",
)
class LBFGS(Optimizer):
    # L-BFGS is not an element-wise rule over a list of tensors, so it has no `_rule` for the
    # executor and overrides `step` itself: it treats all parameters as one flat vector (dot
    # products across every parameter, a history of past steps), re-evaluates the closure
    # several times per step, and keeps one global state on the first parameter.
    _supports_sparse = True  # the flat gradient densifies sparse gradients

    def __init__(self, params: ParamsT, lr: float | Tensor = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        v.validate((v.TENSOR_LR, v.LR), locals())
        if max_eval is None:
            max_eval = max_iter * 5 // 4  # torch's default: a quarter more evaluations than iterations
        super().__init__(params, LBFGS._defaults_from_signature(locals()))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    # ------------------------------------------------------------------ the parameters as a vector
    def _params(self) -> list[Tensor]:
        return self.param_groups[0]["params"]

    def _flat_grad(self) -> Tensor:
        """Every gradient as one real vector (zeros for a parameter without one)."""
        return torch.cat([
            _as_real_vector(p.grad if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype, device=p.device))
            for p in self._params()
        ])

    def _move(self, step: Scalar, direction: Tensor) -> None:
        """``params += step * direction``, with ``direction`` split back into the parameters."""
        targets = [torch.view_as_real(p) if p.is_complex() else p for p in self._params()]
        pieces = direction.split([target.numel() for target in targets])
        for target, piece in zip(targets, pieces):
            target.add_(piece.view_as(target), alpha=step)

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
        settings = _Settings.of(self.param_groups[0])
        # All of L-BFGS's state is global; like torch it lives on the first parameter, which lets
        # load_state_dict move it to that parameter's device and dtype.
        state = self.state[self._params()[0]]
        for counter in ("func_evals", "n_iter"):
            state.setdefault(counter, 0)

        first_loss = closure()
        state["func_evals"] += 1
        grad = self._flat_grad()
        # Already at a stationary point, no iteration: the state keeps its counters only. (Written
        # as `not <=` so that a NaN gradient iterates, as in torch.)
        stationary = bool(grad.abs().max() <= settings.tolerance_grad)
        if not stationary:
            carried = _load_carried(state, settings.history_size)
            self._iterate(closure, settings, state, carried, float(first_loss), grad)
            _save_carried(carried, state)
        self._count_global_step()
        return first_loss

    def _iterate(self, closure: Callable[[], Any], settings: _Settings, state: dict[str, Any],
                 carried: _Carried, loss: float, grad: Tensor) -> None:
        """The iterations of one ``step()``, from the loss and gradient at the current point;
        ``carried`` and the counters in ``state`` are updated as they go."""
        evaluations = 1  # step()'s own closure call
        for iteration in range(1, settings.max_iter + 1):
            state["n_iter"] += 1
            first_ever = state["n_iter"] == 1
            carried.direction = _store(carried.direction, self._direction(state, settings, carried, grad))
            direction = carried.direction
            if carried.prev_grad is None:
                carried.prev_grad = grad.clone(memory_format=torch.contiguous_format)
            else:
                carried.prev_grad.copy_(grad)
            carried.prev_loss = loss

            # Without curvature information the very first step is scaled to at most lr in the
            # l1 norm; afterwards the quasi-Newton direction has the right length and lr is tried.
            carried.step_length = min(1.0, 1.0 / grad.abs().sum()) * settings.lr if first_ever else settings.lr
            slope = grad.dot(direction)
            if slope > -settings.tolerance_change:
                break  # not (or hardly) a descent direction: no step can make progress

            loss, grad, spent = self._take_step(closure, settings, carried, slope, loss, grad,
                                                evaluations, last=iteration == settings.max_iter)
            evaluations += spent
            state["func_evals"] += spent
            # (The reason itself is for reading in a debugger; every reason ends the step alike.)
            reason = _stop_reason(settings, iteration, evaluations, grad, direction, carried.step_length,
                                  loss - carried.prev_loss)
            if reason is not None:
                break

    def _direction(self, state: dict[str, Any], settings: _Settings, carried: _Carried, grad: Tensor) -> Tensor:
        """The search direction at ``grad``, after the history has learnt from the last step."""
        if state["n_iter"] == 1:
            # The optimizer's first iteration ever: steepest descent, and an empty memory.
            carried.history = CurvatureHistory(settings.history_size)
            return grad.neg()
        if carried.history is None or carried.direction is None or carried.prev_grad is None:
            raise RuntimeError(f"LBFGS state has n_iter = {state['n_iter']} but lacks the history of the "
                               "iterations before (d, old_dirs, prev_flat_grad): an incomplete state_dict?")
        carried.history.offer(carried.direction.mul(carried.step_length), grad.sub(carried.prev_grad))
        if "al" not in state:  # torch keeps the two-loop coefficients in the state too
            state["al"] = [None] * settings.history_size
        return carried.history.inverse_times(grad, state["al"])

    def _take_step(self, closure: Callable[[], Any], settings: _Settings, carried: _Carried, slope: Scalar,
                   loss: float, grad: Tensor, evaluations: int, last: bool) -> tuple[float, Tensor, int]:
        """Move the parameters along ``carried.direction``, by the fixed step length or by one the
        line search finds (then stored in ``carried.step_length``). Returns the loss and gradient
        at the new point and the number of closure evaluations spent."""
        direction = carried.direction
        assert direction is not None and carried.step_length is not None
        if settings.line_search_fn is None:
            self._move(carried.step_length, direction)
            if last:
                # No evaluation after the last iteration: the next step() starts with one anyway.
                return loss, grad, 0
            loss = float(closure())
            return loss, self._flat_grad(), 1
        if settings.line_search_fn != "strong_wolfe":
            raise RuntimeError("only 'strong_wolfe' is supported")

        origin = [p.clone(memory_format=torch.contiguous_format) for p in self._params()]

        def evaluate(step_length: Scalar) -> tuple[float, Tensor]:
            # The loss and gradient at origin + step_length * direction, parameters put back after.
            self._move(step_length, direction)
            value, gradient = float(closure()), self._flat_grad()
            for param, saved in zip(self._params(), origin):
                param.copy_(saved)
            return value, gradient

        # torch passes the search neither c1/c2 nor the group's tolerance_change: the search keeps
        # its own defaults. It may spend what is left of max_eval.
        loss, grad, carried.step_length, spent = strong_wolfe(
            evaluate, carried.step_length, direction, loss, grad, slope, max_ls=settings.max_eval - evaluations)
        self._move(carried.step_length, direction)
        return loss, grad, spent

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
    LBFGS,
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
