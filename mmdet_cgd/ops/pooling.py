"""CGD's per-channel reductions over H x W: the forward's mean and max, and backward's sums and
max positions, each in as few passes over the activation as the device allows.

On CPU a chunk of channels stays in cache from the first reduction over it to the second, and
the spatial sum and max come from one read where the compiled op applies (``sum_max_hw``).
Elsewhere (CUDA, other accelerators, ``meta``) each reduction is one kernel over the whole
tensor, half precision accumulated in float32 through ``dtype=`` without a copy, the max found
with its position (``torch.max(dim)``, as cheap as ``amax`` there), and nothing asks the host
for a value: no synchronisation.
"""
import torch

from .compiled_pooling import sum_max_hw

# Shortest block of positions for first_argmax's amax.
MAX_BLOCK = 1024
# Device types whose reductions go chunk by chunk of channels, through cache (a test empties it
# to run the device-generic path on CPU).
CHUNKED_DEVICES = ('cpu', )
# Bytes per chunk of channels in the per-channel reductions: on CPU a chunk stays in cache from
# the first reduction over it to the second, and a float16 chunk's float32 copy stays small.
CHUNK_BYTES = 8 << 20


def chunked(t: torch.Tensor) -> bool:
    """Whether ``t``'s reductions take the CPU path (chunks, cache, the compiled op)."""
    return t.device.type in CHUNKED_DEVICES


def flat_hw(t: torch.Tensor):
    """``t`` (N, C, H, W) as a view with H * W flattened in h * W + w order, and the dim it is
    in: (N, C, HW) for a contiguous tensor, (N, HW, C) for a channels-last one (a copy for any
    other layout)."""
    n, c, h, w = t.shape
    if t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return t.permute(0, 2, 3, 1).reshape(n, h * w, c), 1
    return t.reshape(n, c, h * w), 2


def pool_with_positions(x: torch.Tensor, dtype):
    """Per (B, C): the spatial mean (accumulated in ``dtype``), max (x's dtype) and the first
    position of the max (flat h * W + w), one reduction kernel each: the device-generic forward,
    whose exact positions spare backward its argmax and the in-place path its check."""
    flat, dim = flat_hw(x)
    peak, position = flat.max(dim)
    return torch.mean(x, (2, 3), dtype=dtype), peak, position


def first_argmax(t: torch.Tensor) -> torch.Tensor:
    """``t.flatten(2).argmax(2)``, a few times faster on CPU: argmax tracks an index for every
    element, so ``amax`` finds the first block holding the max and argmax runs in that block."""
    block = block_length(t.shape[2] * t.shape[3])
    if block is None:
        return t.flatten(2).argmax(2)
    return argmax_from_block_maxima(t, blocks_of(t, block).amax(3), block)


def blocks_of(t: torch.Tensor, block: int) -> torch.Tensor:
    """(N, C, H, W) as (N, C, H * W / block, block), a view."""
    return t.flatten(2).unflatten(2, (-1, block))


def argmax_from_block_maxima(t: torch.Tensor, maxima: torch.Tensor, block: int) -> torch.Tensor:
    """``first_argmax`` given each block's max: argmax over the first block holding the max."""
    first = maxima.argmax(2)  # NaN propagates through amax and counts as the max
    n, c = first.shape
    rows = blocks_of(t, block)[torch.arange(n, device=t.device)[:, None],
                               torch.arange(c, device=t.device)[None, :], first]
    return first * block + rows.argmax(2)


def block_length(length: int):
    """A divisor of ``length`` in [MAX_BLOCK, 4 MAX_BLOCK] (amax slows down on shorter blocks)
    that leaves at least 4 blocks; None if there is none."""
    last = min(4 * MAX_BLOCK, length // 4)
    return next((k for k in range(MAX_BLOCK, last + 1) if length % k == 0), None)


def channel_chunks(t: torch.Tensor, dtype):
    """Slices of channels for per-channel reductions to take one at a time: chunks of about
    ``CHUNK_BYTES`` (counted in ``dtype`` where that is wider), or ``t`` whole where chunks gain
    nothing (CUDA, or a channels-last CPU tensor whose channel slices span all of its memory),
    unless ``t`` must be upcast: torch's CPU reductions with ``dtype=`` copy all of it first."""
    if t.dtype == dtype and (t.device.type != 'cpu' or not t.is_contiguous()):
        return [slice(None)]
    n, c, h, w = t.shape
    itemsize = max(t.element_size(), torch.empty(0, dtype=dtype).element_size())
    channels = max(1, CHUNK_BYTES // max(1, n * h * w * itemsize))
    return [slice(start, start + channels) for start in range(0, c, channels)]


def pool_hw(x: torch.Tensor, dtype):
    """Per (B, C): the spatial mean, accumulated and returned in ``dtype``, and the spatial
    max, in x's dtype. On CPU in one read (``sum_max_hw``) where it applies; otherwise chunk by
    chunk of channels, so the max reads what the sum just brought into cache; off the CPU in one
    kernel each. (``mean`` is this sum over H * W.)"""
    n, c, h, w = x.shape
    if not chunked(x):
        return torch.mean(x, (2, 3), dtype=dtype), x.amax((2, 3))
    pooled = sum_max_hw(x)  # x's dtype is dtype here: float32 or float64
    if pooled is not None:
        return pooled[0].div_(h * w), pooled[1]
    sums = x.new_empty((n, c), dtype=dtype)
    peaks = x.new_empty((n, c))
    for part in channel_chunks(x, dtype):
        chunk = x[:, part]
        torch.sum(chunk.to(dtype), (2, 3), out=sums[:, part])
        torch.amax(chunk, (2, 3), out=peaks[:, part])
    return sums.div_(h * w), peaks


def sums_of_products(g: torch.Tensor, t: torch.Tensor, out: torch.Tensor, dtype):
    """Per (B, C): sum_hw(g * t) accumulated and returned in ``dtype``, the product formed in
    ``out`` (an activation-sized tensor the caller overwrites next): the device-generic backward,
    two kernels and no argmax (the forward recorded the max positions)."""
    return torch.sum(torch.mul(g, t, out=out), (2, 3), dtype=dtype)


def backward_reductions(g: torch.Tensor, t: torch.Tensor, out: torch.Tensor, dtype):
    """Per (B, C): sum_hw(g * t), accumulated and returned in ``dtype`` (float32 or float64),
    and the first max position in ``t`` (``first_argmax``).

    Chunk by chunk of channels (on CPU), the product goes into the first chunk of ``out`` (an
    activation-sized tensor the caller overwrites next), which stays in cache, and the chunk's
    sum and block maxima read it and ``t`` from cache. Below float32, where a loss-scaled sum
    overflows, each chunk's product is formed in ``dtype``.
    """
    n, c, h, w = t.shape
    parts = channel_chunks(t, dtype)
    scratch = out[:, parts[0]]
    block = block_length(h * w)
    sums = torch.empty((n, c), dtype=dtype, device=t.device)
    maxima = t.new_empty((n, c, h * w // block)) if block else None
    for part in parts:
        g_part, t_part = g[:, part], t[:, part]
        width = t_part.shape[1]
        product = (torch.mul(g_part, t_part, out=scratch[:, :width]) if t.dtype == dtype
                   else g_part.to(dtype).mul_(t_part))
        torch.sum(product, (2, 3), out=sums[:, part])
        if block:
            torch.amax(blocks_of(t_part, block), 3, out=maxima[:, part])
    first = (argmax_from_block_maxima(t, maxima, block) if block
             else t.flatten(2).argmax(2))
    return sums, first
