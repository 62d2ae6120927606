r"""Memory-lean optimizer state: moments kept in bfloat16 or as 8-bit block-wise codes, and
bfloat16 parameters updated with stochastic rounding.

An Adam-family optimizer keeps two float32 moments per parameter: 8 bytes of state for 4 bytes of
weights. With ``state_dtype`` the moments a class names in ``_lean_states`` are stored compactly
and expanded only around the rule, a piece of one parameter at a time; the rule itself is the
class's single rule, unchanged:

* ``torch.bfloat16``: each moment as a bfloat16 tensor (2 bytes per entry), rounded to nearest;
* ``"int8"``: each moment as one byte per entry, an index into a fixed table of 8-bit values
  (:func:`dynamic_map`), plus one float32 scale per block of :data:`BLOCK` entries: the block's
  largest magnitude (Dettmers et al., 2022, "8-bit Optimizers via Block-wise Quantization"). An
  entry :math:`x` of a block with scale :math:`s` is stored as the index of the table value nearest
  to :math:`x / s` and read back as :math:`s \cdot \text{table}[\text{index}]`:

.. math::
   q_i = \operatorname*{arg\,min}_k \left| \text{table}_k - x_i / s_b \right|, \qquad
   s_b = \max_{i \in b} |x_i|, \qquad \hat x_i = s_b\, \text{table}_{q_i}

The table is "dynamic": its values spread over several decades (1e-6 to 1 for signed moments,
1e-7 to 1 for the non-negative second moments), with more values in the higher decades, so small
entries of a block keep their relative precision better than a linear 8-bit grid would. A
non-negative moment never rounds a non-zero entry to zero: Adam divides by its square root, and a
zero there would turn a tiny second moment into a huge step.

``stochastic_rounding=True`` (for bfloat16 parameters) runs the rule on a float32 copy of each
piece of a parameter and rounds the result to bfloat16 up or down at random, in proportion to its
distance from each (its expectation is the float32 value): updates smaller than half a bfloat16
unit still move the weights on average, where rounding to nearest would drop them every step.

The state dict keeps the compact form (uint8 codes, float32 scales, bfloat16 moments; loadable
with ``torch.load(..., weights_only=True)``) and the group option ``state_dtype``;
:func:`convert_state` turns an optimizer's state into another form (full precision included, so
that its state dict loads into ``torch.optim``).

Example:
    >>> import torch
    >>> from optimkit.optim import AdamW
    >>> from optimkit.optim._lean import state_bytes
    >>> w = torch.nn.Parameter(torch.randn(1024, 256))
    >>> full, lean = AdamW([w]), AdamW([w], state_dtype="int8")
    >>> w.grad = torch.randn_like(w)
    >>> full.step(); lean.step()
    >>> sorted(lean.state[w])
    ['exp_avg', 'exp_avg_absmax', 'exp_avg_sq', 'exp_avg_sq_absmax', 'step']
    >>> round(state_bytes(lean) / state_bytes(full), 3)
    0.254
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ._executor import LoopOps
from ._pieces import Piece, PieceEntries, pieces

if TYPE_CHECKING:
    from .optimizer import Optimizer

__all__ = [
    "BLOCK",
    "INT8",
    "convert_state",
    "dequantize",
    "dynamic_map",
    "lean_state_dtype",
    "quantize",
    "state_bytes",
    "stochastic_round_",
]

#: Entries per scale of the 8-bit form (as bitsandbytes' block-wise optimizers).
BLOCK = 256
#: The name of the 8-bit form, as ``state_dtype`` takes it.
INT8 = "int8"
# Entries of one parameter expanded at a time (float32: 1 MiB per moment): the temporaries stay
# small and in cache, and a piece is a multiple of BLOCK, so blocks never straddle two pieces.
_PIECE = 1 << 18
_SCALE_SUFFIX = "_absmax"

_NAMES = {
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float32": None, "fp32": None, "float": None,
    "int8": INT8, "8bit": INT8,
}


def lean_state_dtype(value: Any) -> torch.dtype | str | None:
    """The canonical form of a ``state_dtype`` argument: ``None`` (full precision, also for
    ``torch.float32``), ``torch.bfloat16``, or ``"int8"``; names as strings are accepted (a config
    file cannot hold a ``torch.dtype``).

    Raises:
        ValueError: for anything else, naming the argument.

    Example:
        >>> import torch
        >>> lean_state_dtype("bf16"), lean_state_dtype(torch.float32), lean_state_dtype("INT8")
        (torch.bfloat16, None, 'int8')
    """
    if value is None or value is torch.float32:
        return None
    if value is torch.bfloat16:
        return torch.bfloat16
    if isinstance(value, str):
        key = value.strip().lower().removeprefix("torch.")
        if key in _NAMES:
            return _NAMES[key]
    raise ValueError(
        f"state_dtype must be None, torch.float32, torch.bfloat16 or 'int8' (also given by name: 'float32', "
        f"'bfloat16', 'int8'), got {value!r}"
    )


def check_lean_options(state_dtype: Any, stochastic_rounding: Any, *, foreach: Any = None, fused: Any = None,
                       differentiable: Any = False, capturable: Any = False) -> torch.dtype | str | None:
    """Validate ``state_dtype`` and ``stochastic_rounding`` against the other flags of a constructor
    and return the canonical ``state_dtype``. Compact state runs its own per-tensor executor, so it
    takes neither ``foreach`` nor ``fused``, and neither ``capturable`` nor ``differentiable``."""
    dtype = lean_state_dtype(state_dtype)
    if dtype is None and not stochastic_rounding:
        return None
    option = "state_dtype" if dtype is not None else "stochastic_rounding"
    for flag, value in (("foreach", foreach), ("fused", fused), ("differentiable", differentiable),
                        ("capturable", capturable)):
        if value:
            raise ValueError(
                f"{option} expands the state a piece at a time in its own per-tensor step: it cannot be combined "
                f"with {flag}=True"
            )
    return dtype


# ------------------------------------------------------------------------------- the 8-bit form
@functools.cache
def dynamic_map(signed: bool) -> Tensor:
    """The 8-bit table, sorted, in float32: zero, and magnitudes spread over decades with twice as
    many values in each decade as in the one below (signed: 1e-6..1, 127 magnitudes and their
    negatives, 255 values; unsigned: 1e-7..1, 255 magnitudes and zero, 256 values). In each decade
    the values are the midpoints of an even grid, except in the top one, whose grid ends at 1 so
    that a block's largest entry is stored exactly.

    Example:
        >>> table = dynamic_map(signed=False)
        >>> len(table), table[0].item(), table[-1].item(), len(dynamic_map(signed=True))
        (256, 0.0, 1.0, 255)
    """
    decades = 7 if signed else 8
    magnitudes: list[float] = []
    for decade in range(decades):
        count = 1 << decade
        scale = 10.0 ** (decade - decades + 1)
        grid = torch.linspace(0.1, 1.0, count + 1, dtype=torch.float64)
        points = grid[1:] if decade == decades - 1 else (grid[:-1] + grid[1:]) / 2
        magnitudes += (points * scale).tolist()
    values = [0.0, *magnitudes] + ([-m for m in magnitudes] if signed else [])
    return torch.tensor(sorted(values), dtype=torch.float32)


@functools.cache
def _code_table(signed: bool, device: torch.device) -> Tensor:
    """The table as stored codes read it. Codes count from zero's position (modulo the table's
    length), so that code 0 is the value 0: a sparsity mask multiplied into the codes zeroes the
    entries."""
    table = dynamic_map(signed).to(device)
    return torch.roll(table, -int(torch.nonzero(table == 0)[0]))


def _blocks(x: Tensor) -> Tensor:
    """``x`` flattened and zero-padded to whole blocks, one row per block."""
    flat = x.reshape(-1)
    pad = -flat.numel() % BLOCK
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    return flat.view(-1, BLOCK)


# Quantizing looks the nearest code up in a table indexed by the top bits of the float32 entry
# (exponent and 10 bits of mantissa: buckets 2^-10 wide relative to the value, narrower than any gap
# between neighbouring codes, so a bucket holds at most one rounding boundary) and settles the one
# boundary with a comparison: exact nearest-value rounding, about 5x faster than a binary search.
_BUCKET_SHIFT = 13
_BUCKETS = (0x3F800000 >> _BUCKET_SHIFT) + 1  # up to the bits of 1.0, the largest normalized entry


@functools.cache
def _lookup(signed: bool, device: torch.device) -> tuple[Tensor, Tensor]:
    """Per bucket of float32 bits (see above) of a normalized magnitude: the index of the largest
    table magnitude whose rounding boundary lies below the bucket (uint8), and the one boundary
    that may lie inside the bucket (float32; inf where none does)."""
    table = dynamic_map(signed)
    magnitudes = table[table >= 0]
    boundaries = (magnitudes[1:] + magnitudes[:-1]) / 2
    starts = (torch.arange(_BUCKETS + 1, dtype=torch.int32) << _BUCKET_SHIFT).view(torch.float32)
    below = torch.searchsorted(boundaries, starts)
    assert int((below[1:] - below[:-1]).max()) <= 1, "a bucket holds two rounding boundaries"
    inside = torch.cat([boundaries, torch.tensor([float("inf")])])[below[:-1]]
    return below[:-1].to(torch.uint8).to(device), inside.to(device)


def quantize(x: Tensor, signed: bool) -> tuple[Tensor, Tensor]:
    """The 8-bit form of ``x``: uint8 codes shaped like ``x`` and one float32 scale per block.

    Example:
        >>> import torch
        >>> x = torch.tensor([0.5, -1.0, 0.25, 0.0])
        >>> codes, scales = quantize(x, signed=True)
        >>> scales.tolist(), [round(v, 4) for v in dequantize(codes, scales, signed=True).tolist()]
        ([1.0], [0.4938, -1.0, 0.2547, 0.0])
    """
    below, inside = _lookup(signed, x.device)
    rows = _blocks(x.float())
    magnitude = rows.abs()
    scales = magnitude.amax(dim=1)
    # Times the reciprocal: a block's largest entry may come out a unit below 1, whose nearest
    # code is still 1 (the table's values are far apart there).
    magnitude = (magnitude * torch.where(scales > 0, scales, 1.0).reciprocal().unsqueeze(1)).view(-1)
    bucket = (magnitude.view(torch.int32) >> _BUCKET_SHIFT).long().clamp_(max=_BUCKETS - 1)  # (NaN: the last)
    # The index of the nearest magnitude: one more where the entry lies above its bucket's boundary.
    index = torch.gather(below, 0, bucket)
    index += torch.gather(inside, 0, bucket) < magnitude
    if signed:
        # Codes count from zero (see _code_table): a negative entry's code wraps around below it, to
        # 255 - index (arithmetic on uint8: torch.where on uint8 is not vectorized, 10x slower).
        flip = ((rows.view(-1) < 0) & (index > 0)).to(torch.uint8)
        index += flip * (len(dynamic_map(True)) - 2 * index)
    else:
        # Never zero for a non-zero entry (see the module docstring): the smallest value instead.
        index += (index == 0) & (magnitude > 0)
    return index[: x.numel()].view(x.shape), scales


def dequantize(codes: Tensor, scales: Tensor, signed: bool, dtype: torch.dtype = torch.float32) -> Tensor:
    """The values of an 8-bit form (:func:`quantize`), shaped like ``codes``, in ``dtype``."""
    table = _code_table(signed, codes.device)
    values = table[codes.reshape(-1).long()]
    pad = -values.numel() % BLOCK
    if pad:
        values = torch.cat([values, values.new_zeros(pad)])
    return (values.view(-1, BLOCK) * scales.unsqueeze(1)).view(-1)[: codes.numel()].view(codes.shape).to(dtype)


def stochastic_round_(target: Tensor, values: Tensor) -> None:
    """Write float32 ``values`` into the bfloat16 tensor ``target``, each rounded down or up at
    random with probabilities that make the expectation ``values`` itself: add uniform noise
    below bfloat16's last bit to the float32 bits, then drop those 16 bits. NaNs stay NaN.

    Example:
        >>> import torch
        >>> target = torch.empty(100_000, dtype=torch.bfloat16)
        >>> stochastic_round_(target, torch.full((100_000,), 1.0 + 2**-10))  # 1/8 of a bf16 unit
        >>> abs(target.float().mean().item() - (1.0 + 2**-10)) < 2e-4
        True
    """
    bits = values.float().contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, bits.shape, dtype=torch.int32, device=bits.device)
    rounded = ((bits + noise) & -65536).view(torch.float32)  # -65536: the upper 16 bits set
    target.copy_(torch.where(torch.isnan(values), values, rounded).view(target.shape))


# ---------------------------------------------------------------------------- state conversion
def _signed_names(optimizer: Optimizer) -> dict[str, bool]:
    return dict(type(optimizer)._lean_states)


def compact_state(optimizer: Optimizer, group: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """``fresh`` (a parameter's new full-precision state) in the form ``group`` asks for."""
    dtype = group.get("state_dtype")
    if dtype is None:
        return fresh
    out = dict(fresh)
    for name, signed in _signed_names(optimizer).items():
        value = fresh.get(name)
        if not isinstance(value, Tensor) or value.dim() == 0:
            continue
        if dtype == INT8:
            if value.device.type == "meta":  # a probe of the state's layout: shapes only
                codes = torch.empty(value.shape, dtype=torch.uint8, device="meta")
                scales = torch.empty((-value.numel() // BLOCK) * -1, device="meta")
            else:
                codes, scales = quantize(value, signed)
            out[name], out[name + _SCALE_SUFFIX] = codes, scales
        else:
            out[name] = value.to(dtype)
    return out


def _expanded(state: dict[str, Any], name: str, signed: bool, dtype: torch.dtype) -> Tensor:
    """One compact state entry, whole, in full precision ``dtype``."""
    return _expand_piece(state, name, signed, Piece(0, state[name].numel(), whole=True), dtype)


def convert_state(optimizer: Optimizer, state_dtype: Any) -> None:
    """Turn the state of every group of ``optimizer`` into the form ``state_dtype`` names
    (``None`` or ``torch.float32``: full precision; ``torch.bfloat16``; ``"int8"``), in place,
    and record it as the groups' ``state_dtype`` option. Full precision drops the option, so the
    state dict is then one ``torch.optim``'s class loads; converting back compacts again.

    Example:
        >>> import torch
        >>> from optimkit.optim import Adam
        >>> from optimkit.optim._lean import convert_state
        >>> w = torch.nn.Parameter(torch.ones(300)); w.grad = torch.ones(300)
        >>> opt = Adam([w], state_dtype="int8"); opt.step()
        >>> convert_state(opt, torch.float32)
        >>> "state_dtype" in opt.param_groups[0], opt.state[w]["exp_avg"].dtype
        (False, torch.float32)
        >>> torch.optim.Adam([w]).load_state_dict(opt.state_dict())
    """
    target = lean_state_dtype(state_dtype)
    lean = _signed_names(optimizer)
    if not lean:
        raise ValueError(f"{type(optimizer).__name__} keeps no state that state_dtype compacts")
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue
            full = {name: _expanded(state, name, signed, p.dtype if p.is_floating_point() else torch.float32)
                    for name, signed in lean.items() if isinstance(state.get(name), Tensor) and state[name].dim() > 0}
            for name in full:
                state.pop(name + _SCALE_SUFFIX, None)
            state.update(compact_state(optimizer, {"state_dtype": target}, full))
        if target is None:
            group.pop("state_dtype", None)
        else:
            group["state_dtype"] = target


def restore_compact(optimizer: Optimizer, state_dict: dict[str, Any]) -> None:
    """Undo what torch's loader does to compact state: it casts floating-point state to its
    parameter's dtype (bfloat16 moments back to float32, float32 scales of bfloat16 parameters to
    bfloat16); put the saved tensors back, on their parameter's device."""
    lean = _signed_names(optimizer)
    if not lean:
        return
    keys = {*lean, *(name + _SCALE_SUFFIX for name in lean)}
    saved_state = state_dict["state"]
    for group, saved_group in zip(optimizer.param_groups, state_dict["param_groups"]):
        if group.get("state_dtype") is None:
            continue
        for p, saved_id in zip(group["params"], saved_group["params"]):
            saved = saved_state.get(saved_id)
            if not saved:
                continue
            state = optimizer.state[p]
            for key in keys & saved.keys():
                if isinstance(saved[key], Tensor):
                    state[key] = saved[key].to(device=p.device)


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor in ``optimizer.state`` (each tensor once; the inner tensors of a
    tensor subclass, as torchao's low-bit state, counted through ``__tensor_flatten__``).

    Example:
        >>> import torch
        >>> from optimkit.optim import AdamW
        >>> w = torch.nn.Parameter(torch.zeros(1000)); w.grad = torch.ones(1000)
        >>> opt = AdamW([w]); opt.step()
        >>> state_bytes(opt)  # two float32 moments and a float32 step
        8004
    """
    seen: set[int] = set()

    def size(t: Tensor) -> int:
        flatten = getattr(type(t), "__tensor_flatten__", None)
        if flatten is not None and type(t) not in (Tensor, torch.nn.Parameter):
            names, _ = t.__tensor_flatten__()
            return sum(size(getattr(t, name)) for name in names)
        if id(t) in seen:
            return 0
        seen.add(id(t))
        return t.numel() * t.element_size()

    def walk(value: Any) -> Iterator[Tensor]:
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from walk(item)

    return sum(size(t) for state in optimizer.state.values() for t in walk(state))


# ---------------------------------------------------------------------------------- the step
def _scales_of(piece: Piece) -> slice:
    """The 8-bit scales of a piece's entries (a piece starts on a block boundary)."""
    return slice(piece.start // BLOCK, -(-piece.end // BLOCK))


def lean_update(optimizer: Optimizer, group: dict[str, Any], params: list[Tensor]) -> None:
    """One step of ``group`` with compact state or stochastic rounding: for each parameter, a
    piece at a time (element-wise rules) or whole (per-tensor ones, Lamb's trust ratio), expand
    the compact moments (and a low-precision parameter and gradient) to full precision, run the
    class's rule on them, and store the results back in compact form."""
    cls = type(optimizer)
    rule: Callable[..., None] = cls._rule
    per_param = optimizer._per_param_lists(group, params)
    hyper = optimizer._hyperparameters(group)
    rounding = bool(group.get("stochastic_rounding"))
    lean = _signed_names(optimizer)
    ops = LoopOps()
    for index, p in enumerate(params):
        grad = p.grad
        assert grad is not None
        if p.is_complex() or grad.is_sparse:
            raise RuntimeError(f"{cls.__name__}: state_dtype and stochastic_rounding support dense real parameters only")
        state = optimizer.state[p]
        # Low-precision parameters step in float32; float32 and float64 ones in their own dtype.
        work_dtype = p.dtype if p.dtype in (torch.float32, torch.float64) else torch.float32
        whole = not cls._elementwise or not (p.is_contiguous() and grad.is_contiguous())
        entries = {name: values[index] for name, values in per_param.items()}
        cuts = pieces(p.numel(), _PIECE, whole=whole)
        views = PieceEntries(entries, len(cuts))
        for number, piece in enumerate(cuts):
            target = piece.of(p.detach())
            work_p = target if target.dtype == work_dtype else target.to(work_dtype)
            work_g = piece.of(grad)
            work_g = work_g if work_g.dtype == work_dtype else work_g.to(work_dtype)
            lists: dict[str, list[Any]] = {}
            expanded: dict[str, Tensor] = {}
            for name, value in views.at(piece, last=number == len(cuts) - 1).items():
                if name in lean and isinstance(value, Tensor) and value.dim() > 0:
                    expanded[name] = _expand_piece(state, name, lean[name], piece, work_dtype)
                    lists[name] = [expanded[name]]
                else:
                    lists[name] = [value]
            rule(ops, [work_p], [work_g], **lists, **hyper)
            for name, value in expanded.items():
                _store_piece(state, name, lean[name], piece, value)
            if work_p is not target:
                if rounding and target.dtype == torch.bfloat16:
                    stochastic_round_(target, work_p)
                else:
                    target.copy_(work_p)


def _expand_piece(state: dict[str, Any], name: str, signed: bool, piece: Piece, dtype: torch.dtype) -> Tensor:
    """A piece of one compact state entry in full precision ``dtype`` (the stored tensor itself
    where it is stored in ``dtype`` already)."""
    value, scales = state[name], state.get(name + _SCALE_SUFFIX)
    if scales is not None and value.dtype == torch.uint8:
        return dequantize(piece.of(value), scales[_scales_of(piece)], signed, dtype)
    return piece.of(value).to(dtype)


def _store_piece(state: dict[str, Any], name: str, signed: bool, piece: Piece, value: Tensor) -> None:
    """Store ``value`` (from :func:`_expand_piece`, updated) back into the compact entry."""
    stored, scales = state[name], state.get(name + _SCALE_SUFFIX)
    if scales is not None and stored.dtype == torch.uint8:
        codes, scales[_scales_of(piece)] = quantize(value, signed)
        piece.of(stored).copy_(codes)
        return
    part = piece.of(stored)
    if part.data_ptr() != value.data_ptr():
        part.copy_(value.view(part.shape))
