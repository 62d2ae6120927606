"""Argument descriptions shared by the optimizer docstrings, written once.

Each optimizer builds the ``Args:`` part of its docstring with :func:`args_doc`, which reads the
arguments and their defaults from its signature; the optimizer describes its own arguments inline.
"""

from __future__ import annotations

import inspect

__all__ = ["SHARED_ARGS", "args_doc"]

SHARED_ARGS: dict[str, str] = {
    "params": (
        "params (iterable): the tensors to optimize, or dicts defining parameter groups, or "
        "(name, tensor) pairs."
    ),
    "lr": "lr (float, Tensor, optional): learning rate (default: {default}).",
    "weight_decay": "weight_decay (float, optional): weight decay, an L2 penalty (default: {default}).",
    "eps": "eps (float, optional): added to the denominator for numerical stability (default: {default}).",
    "betas": (
        "betas (Tuple[float, float], optional): decay rates of the running averages of the "
        "gradient and of its square (default: {default})."
    ),
    "foreach": (
        "foreach (bool, optional): run the update with ``torch._foreach_*`` over lists of tensors "
        "(faster on accelerators, more peak memory). With neither ``foreach`` nor ``fused`` given, "
        "foreach is used on CUDA and a per-tensor loop on the CPU (default: None)."
    ),
    "maximize": "maximize (bool, optional): maximize the objective instead of minimizing it (default: False).",
    "capturable": (
        "capturable (bool, optional): keep ``step`` and the bias corrections on the parameters' "
        "device so the step can be captured in a CUDA graph; costs some speed when not capturing "
        "(default: False)."
    ),
    "differentiable": (
        "differentiable (bool, optional): run ``step()`` under autograd so gradients flow through "
        "the update (for meta-learning); slower (default: False)."
    ),
    "fused": (
        "fused (bool, optional): use torch's fused kernel for the device (CPU, CUDA, MPS, XPU), "
        "floating point parameters only; cannot be combined with ``foreach`` or "
        "``differentiable`` (default: None)."
    ),
    "fused_compiled": (
        "fused (bool, optional): optimkit only (torch has no fused kernel for this algorithm): run "
        "the update rule compiled with ``torch.compile``, one generated loop per tensor or per "
        "flat buffer (:func:`optimkit.flatten_parameters`), the learning rate passed as a tensor "
        "so that schedulers cause no recompilation. The first step compiles (seconds). Cannot be "
        "combined with ``foreach`` or ``differentiable`` (default: None)."
    ),
    "state_dtype": (
        "state_dtype (torch.dtype or str, optional): optimkit only: keep the moments compact, "
        "``torch.bfloat16`` (2 bytes per entry) or ``\"int8\"`` (8-bit block-wise codes, 1 byte per entry "
        "plus a float32 scale per 256), expanded a piece at a time around the update; ``None`` or "
        "``torch.float32``: full precision. Not with ``foreach``, ``fused``, ``capturable`` or "
        "``differentiable`` (default: None)."
    ),
    "stochastic_rounding": (
        "stochastic_rounding (bool, optional): optimkit only: update bfloat16 parameters in float32 "
        "and round the result to bfloat16 at random, up or down in proportion to the distance "
        "(unbiased), so that updates below half a bfloat16 unit are not lost (default: None)."
    ),
}


def args_doc(own: dict[str, str], cls: type) -> str:
    """The ``Args:`` section of ``cls``: one entry per constructor argument, in the signature's
    order, each looked up in ``own`` first and in :data:`SHARED_ARGS` after, with the signature's
    default filled in.

    Example:
        >>> class Plain:
        ...     def __init__(self, params, lr=0.5, *, maximize=False): ...
        >>> print(args_doc({}, Plain).splitlines()[2])
            lr (float, Tensor, optional): learning rate (default: 0.5).
    """
    lines = ["Args:"]
    for name, parameter in inspect.signature(cls.__init__).parameters.items():  # type: ignore[misc]
        if name == "self":
            continue
        default = None if parameter.default is parameter.empty else parameter.default
        if name == "fused" and name in getattr(cls, "_own_options", ()):
            name = "fused_compiled"  # optimkit's own option: torch has no kernel for this class
        lines.append(f"    {own.get(name) or SHARED_ARGS[name].format(default=default)}")
    return "\n".join(lines)
