"""Where large state tensors land in memory.

An elementwise step streams through a parameter, its gradient and its state tensors at the same
index. Tensors of a few MiB and more come from the C library's ``mmap``, and consecutive
allocations of one size land next to each other, one page apart beyond their size. When that size
is a multiple of a large power of two (``4096 x 4096`` floats, ``2**25`` ...) the streams of one
step then advance in lockstep at addresses that differ by almost exactly that power of two, and
they contend for the same places in the memory system (the effect array padding avoids in
numerical codes). On the 2-core EPYC VM this project measures on, torch's fused Adam on
``2**25`` floats streams at about 44 GB/s when its moments sit in lockstep behind the parameter
and the gradient, and at 80-97 GB/s when they do not (``benchmarks/placement.py`` shows it).
Sizes with no large power-of-two factor are not affected.

So each CPU state tensor of at least :data:`MIN_BYTES` is a view into a slightly larger
zero-filled storage, with ``slot + 1`` steps of :data:`STEP_BYTES` of padding before it and as
many after it: the C library hands out large blocks from the top of the address space down and
small ones from the bottom up, and the padding after a block moves it in the first case, the
padding before it in the second. The state tensors of one parameter (slots 0, 1, 2, ...) so fall
out of step with the parameter, the gradient and each other. The cost is at most
``2 x 4 x 16 KiB`` per tensor of 4 MiB or more (at most 3%, stored with the tensor by
``torch.save``). Values, shapes, strides and dtypes are those of ``torch.zeros_like`` /
``torch.full_like``; only the storage offset differs.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["MIN_BYTES", "STEP_BYTES", "buffer_zeros", "padded_full", "place_loaded_state", "state_full", "state_zeros"]

MIN_BYTES = 4 << 20
"""Tensors smaller than this are allocated as torch would: below it the allocator packs them on
its heap, and the lockstep effect was not measurable (16 MiB tensors already run at L3 speed)."""

STEP_BYTES = 16 << 10
"""One step of offset. Streams 0-4 KiB apart were slow in the measurements, 8 KiB and more apart
were not (``benchmarks/placement.py --scan``)."""

_SLOTS = 4  # offsets cycle through 1..4 steps: a parameter has at most three state tensors here


def _worth_placing(numel: int, dtype: torch.dtype, device: torch.device) -> bool:
    # A GPU's caching allocator places blocks its own way; code being compiled keeps torch's
    # factories (the graph gains nothing from the padding).
    return device.type == "cpu" and numel * dtype.itemsize >= MIN_BYTES and not torch.compiler.is_compiling()


def _placeable(like: Tensor) -> bool:
    # Plain, contiguous tensors only: a tensor subclass (DTensor under FSDP2, ...) must come from
    # its own factory, and another memory format from torch's (preserve_format).
    return (
        type(like) in (Tensor, torch.nn.Parameter)
        and like.layout == torch.strided
        and like.is_contiguous()
        and _worth_placing(like.numel(), like.dtype, like.device)
    )


def padded_full(numel: int, fill: float | complex, *, dtype: torch.dtype, device: torch.device | str,
                slot: int) -> Tensor:
    """A 1-D tensor of ``numel`` elements equal to ``fill``, with ``slot % 4 + 1`` steps of
    :data:`STEP_BYTES` of zero padding on either side in its storage.

    Example:
        >>> t = padded_full(3, 0.0, dtype=torch.float32, device="cpu", slot=0)
        >>> t.tolist(), t.storage_offset() * t.element_size() == STEP_BYTES
        ([0.0, 0.0, 0.0], True)
    """
    pad = (slot % _SLOTS + 1) * STEP_BYTES // dtype.itemsize
    tensor = torch.zeros(numel + 2 * pad, dtype=dtype, device=device)[pad:pad + numel]
    return tensor.fill_(fill) if fill != 0 else tensor


def buffer_zeros(numel: int, *, dtype: torch.dtype, device: torch.device | str, slot: int) -> Tensor:
    """``torch.zeros(numel)`` for a buffer made here (a flat parameter, gradient or state
    buffer), placed as :func:`state_full` places state when it is large and on the CPU.

    Example:
        >>> buffer_zeros(4, dtype=torch.float32, device="cpu", slot=1).storage_offset()   # small
        0
    """
    device = torch.device(device)
    if not _worth_placing(numel, dtype, device):
        return torch.zeros(numel, dtype=dtype, device=device)
    return padded_full(numel, 0, dtype=dtype, device=device, slot=slot)


def state_full(like: Tensor, fill: float | complex, *, slot: int) -> Tensor:
    """``torch.full_like(like, fill, memory_format=torch.preserve_format)``, placed out of step
    with ``like`` when it is a large plain CPU tensor (see the module's text).

    Args:
        like: the tensor whose shape, dtype, device and strides the result takes.
        fill: the value of every element.
        slot: which state tensor of the parameter this is (0, 1, ...): each slot its own offset.

    Example:
        >>> w = torch.ones(1 << 20)                  # 4 MiB of float32
        >>> m, v = state_full(w, 0.0, slot=0), state_full(w, 0.0, slot=1)
        >>> m.shape == w.shape, bool(m.eq(0).all()), m.storage_offset() != v.storage_offset()
        (True, True, True)
        >>> state_full(torch.ones(3), 0.5, slot=0).storage_offset()   # small: as torch allocates it
        0
    """
    if not _placeable(like):
        return torch.full_like(like, fill, memory_format=torch.preserve_format)
    return padded_full(like.numel(), fill, dtype=like.dtype, device=like.device, slot=slot).view(like.shape)


def state_zeros(like: Tensor, *, slot: int) -> Tensor:
    """``torch.zeros_like(like, memory_format=torch.preserve_format)``, placed as
    :func:`state_full` places it.

    Example:
        >>> state_zeros(torch.ones(2, 3), slot=0)
        tensor([[0., 0., 0.],
                [0., 0., 0.]])
    """
    return state_full(like, 0, slot=slot)


def place_loaded_state(state: dict[Tensor, dict[str, object]], params: list[Tensor]) -> None:
    """Place the state tensors that a checkpoint brought in as :func:`state_full` would have.

    ``torch.load`` gives every tensor a storage of its own, allocated one after another: the moments
    of a large parameter come back in lockstep, and a resumed run would step slower than the run
    that saved them. Each large plain CPU state tensor shaped like its parameter that owns its
    whole storage is copied into a placed one (slots counted as ``_init_state`` counts them: the
    parameter-shaped tensors in order). Others are left as they are, so a small or already placed
    tensor keeps its identity.

    Example:
        >>> w = torch.nn.Parameter(torch.zeros(1 << 20))
        >>> state = {w: {"step": torch.tensor(3.0), "exp_avg": torch.ones(1 << 20)}}
        >>> place_loaded_state(state, [w])
        >>> state[w]["exp_avg"].storage_offset() > 0, bool(state[w]["exp_avg"].eq(1).all())
        (True, True)
    """
    for p in params:
        p_state = state.get(p)
        if not p_state:
            continue
        slot = 0
        for key, value in list(p_state.items()):
            if not isinstance(value, Tensor) or value.shape != p.shape or value.dim() == 0:
                continue
            if (not value.requires_grad and _placeable(value)
                    and value.untyped_storage().nbytes() == value.nbytes):
                placed = padded_full(value.numel(), 0, dtype=value.dtype, device=value.device, slot=slot)
                p_state[key] = placed.view(value.shape).copy_(value)
            slot += 1
