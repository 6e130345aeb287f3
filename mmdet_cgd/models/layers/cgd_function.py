"""CGD for training, fused: few passes over the activation and nothing extra kept for backward.

The plain path (``CGD.forward_plain``: scripting, tracing, export, and the reference in the
tests) lets autograd record ``mean``, ``amax`` and ``x * (1 + att)``: it keeps the input ``x``
and builds several activation-sized temporaries. Here the forward reads ``x`` once for both
poolings (on CPU; twice elsewhere, see ``pool_hw``) and scales it once; backward keeps one
activation-sized tensor and (B, C) vectors, and finds each channel's max position itself
(``max_positions``), as the forward's ``torch.max(dim)`` would cost several times an ``amax``
on CPU. Through y = x * (1 + att):

    dL/dz = sum_hw(dL/dy * x) * (1 - att^2) = sum_hw(dL/dy * y) * (1 - att),   att = tanh(z).

``inplace=False`` keeps the input ``x`` (the x form): whatever later modifies ``y`` in place
(``out += identity``, an in-place ReLU) cannot corrupt backward. ``inplace=True`` scales ``x`` in
place and keeps ``y`` (the y form), no second activation: valid only where nothing else keeps
``x``, which ``check_inplace_is_safe`` enforces at forward; a consumer that then modifies ``y`` in
place is caught by autograd's version counter at backward.

The O(C) attention math is differentiated by hand below, equation by equation of
``attention_terms``. The per-channel reductions and every (B, C) vector are float32 (or float64)
also for float16 inputs: a loss-scaled float16 gradient summed over H x W overflows float16.
At ties the max-pool gradient goes to one position, the first in h * W + w order (as
``torch.argmax``), where the plain path's ``amax`` splits it evenly; both are valid subgradients.
"""
import torch
from torch.autograd.function import once_differentiable

from .compiled_pooling import sum_max_hw
from .inplace_safety import check_inplace_is_safe

# Shortest block of positions for first_argmax's amax.
MAX_BLOCK = 1024
# Bytes per chunk of channels in the per-channel reductions: on CPU a chunk stays in cache from
# the first reduction over it to the second, and a float16 chunk's float32 copy stays small.
CHUNK_BYTES = 8 << 20


def attention_terms(a, m, w0, w1, w2, b0, b1, b2):
    """Every term of the attention, from the pooled (B, C) vectors a (mean) and m (max) and the
    (1, C) parameters; ``s a^T w0 = s * (a . w0)`` keeps it O(C) per sample:

        s = softmax(a)
        psi = tanh(s * (a . w0) + b0),  phi = tanh(s * (m . w1) + b1)
        att = tanh(psi * (phi . w2) + b2)

    Dot products are mul + sum rather than matmul so autocast leaves their dtype alone. A sample
    whose pooled vectors hold a NaN or an infinity comes out all NaN (``v - v`` is NaN there and
    0 elsewhere): saturated tanh must not turn a broken input into a finite-looking output.
    """
    a, m = a + (a - a), m + (m - m)
    # softmax written out: torch's CPU softmax opens a thread pool even for a (B, C) vector,
    # which costs milliseconds whenever the cores are busy
    e = (a - a.amax(1, keepdim=True)).exp()
    s = e / e.sum(1, keepdim=True)
    p0 = (a * w0).sum(1, keepdim=True)
    psi = torch.tanh(s * p0 + b0)
    p1 = (m * w1).sum(1, keepdim=True)
    phi = torch.tanh(s * p1 + b1)
    q = (phi * w2).sum(1, keepdim=True)
    att = torch.tanh(psi * q + b2)
    return s, p0, psi, p1, phi, q, att


def max_positions(first: torch.Tensor, exact) -> torch.Tensor:
    """Each channel's max position in x (flat h * W + w, (B, C)), from ``first``, the first
    max position in what backward kept.

    Ties go to the first position. From x (``inplace=False``) this is exact. From y = x * scale
    (``inplace=True``; scale >= 0 per channel) it is the first p with y[p] == max(y): rounding is
    monotonic, so x[p] * scale and max(x) * scale round to the same value of y's dtype. Where
    that value is a normal number, x[p] is the max or differs from it by less than one unit in
    the last place of y's dtype (relative 2^-23 in float32, 2^-10 in float16, 2^-7 in bfloat16):
    a near-max value that rounding made equal to the max. Where it is not (scale 0 or tiny, or
    a max of exactly 0: y may no longer tell the max apart), the forward recorded the exact
    position in ``exact`` (-1 elsewhere).
    """
    return first if exact is None else torch.where(exact >= 0, exact, first)


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


def positions_lost_by_scaling(x: torch.Tensor, peak: torch.Tensor, scale: torch.Tensor):
    """Before ``x`` is scaled in place: exact max positions (-1 elsewhere) of the channels where
    ``peak * scale`` is 0 or subnormal in x's dtype, whose max ``y`` may no longer locate; None
    if there are none (the usual case; on a GPU the check costs one synchronisation)."""
    lost = (peak * scale).abs() < torch.finfo(x.dtype).tiny  # NaN: not lost, y stays NaN there
    if not bool(lost.any()):
        return None
    exact = torch.full_like(peak, -1, dtype=torch.long)
    exact[lost] = x.flatten(2)[lost].argmax(1)
    return exact


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
    max, in x's dtype. On CPU in one read (``compiled_pooling``) where it applies; otherwise
    chunk by chunk of channels, so the max reads what the sum just brought into cache (on the
    2-core CPU here the max then still costs about 0.7 of a pass from memory).
    (``mean`` is this sum over H * W.)"""
    n, c, h, w = x.shape
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


def empty_gradient_like(t: torch.Tensor, dtype) -> torch.Tensor:
    """An uninitialised gradient for ``t`` whose ``view(N, C, H * W)`` is a view, not a copy."""
    nhwc = t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
    memory_format = torch.channels_last if nhwc else torch.contiguous_format
    return torch.empty(t.shape, dtype=dtype, device=t.device, memory_format=memory_format)


class CGDFunction(torch.autograd.Function):
    """``CGDFunction.apply(x, inplace, w0, w1, w2, bias0, bias1, bias2)``: CGD(x) for training.

    ``inplace=True`` checks at forward that nothing already keeps ``x`` (``CGDConfigError``).
    """

    @staticmethod
    def forward(ctx, x, inplace, w0, w1, w2, b0, b1, b2):
        if inplace:
            check_inplace_is_safe(x)
        dtype = torch.promote_types(x.dtype, torch.float32)  # the small vectors: >= float32
        c = x.shape[1]
        # the max positions are found in backward
        a, peak = pool_hw(x, dtype)
        m = peak.to(dtype)
        param_dtype = w0.dtype
        w0, w1, w2, b0, b1, b2 = (p.to(dtype).view(1, c) for p in (w0, w1, w2, b0, b1, b2))
        s, p0, psi, p1, phi, q, att = attention_terms(a, m, w0, w1, w2, b0, b1, b2)
        scale = (1 + att).to(x.dtype)
        exact = None
        if inplace:  # no new activation-sized allocation (and its page faults on CPU)
            exact = positions_lost_by_scaling(x, peak, scale)
            ctx.mark_dirty(x)
            y = x.mul_(scale[:, :, None, None])
        else:
            y = x * scale[:, :, None, None]
        kept = y if inplace else x  # see the module docstring: the y form or the x form
        ctx.save_for_backward(kept, exact, a, m, s, p0, p1, psi, phi, q, att, w0, w1, w2)
        ctx.inplace, ctx.param_dtype = inplace, param_dtype
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        kept, exact, a, m, s, p0, p1, psi, phi, q, att, w0, w1, w2 = ctx.saved_tensors
        n, c, h, w = kept.shape
        gx = empty_gradient_like(kept, g.dtype)  # first the scratch for g * kept, then dL/dx
        # through y = x * (1 + att): dz = sum_hw(g * y) * (1 - att) = sum_hw(g * x) * (1 - att^2)
        g_kept, first = backward_reductions(g, kept, gx, a.dtype)
        dz = g_kept * (1 - att) if ctx.inplace else g_kept * (1 - att) * (1 + att)
        # att = tanh(psi * q + b2), q = phi . w2
        dpsi, dq = dz * q, (dz * psi).sum(1, keepdim=True)
        dphi, dw2 = dq * w2, (dq * phi).sum(0)
        # phi = tanh(s * p1 + b1), p1 = m . w1
        dv = dphi * (1 - phi * phi)
        dp1 = (dv * s).sum(1, keepdim=True)
        dm, dw1 = dp1 * w1, (dp1 * m).sum(0)
        # psi = tanh(s * p0 + b0), p0 = a . w0
        du = dpsi * (1 - psi * psi)
        dp0 = (du * s).sum(1, keepdim=True)
        dw0 = (dp0 * a).sum(0)
        # s = softmax(a)
        ds = du * p0 + dv * p1
        da = dp0 * w0 + s * (ds - (ds * s).sum(1, keepdim=True))
        # x: g * (1 + att) + da / HW everywhere + dm at each channel's max position
        position = max_positions(first, exact)
        scale = (1 + att).to(g.dtype)[:, :, None, None]
        torch.addcmul((da / (h * w)).to(g.dtype)[:, :, None, None], g, scale, out=gx)
        # index_put_, not scatter_add_, which copies all of gx to float32 for float16 on CPU
        samples, channels = torch.arange(n, device=g.device), torch.arange(c, device=g.device)
        gx.view(n, c, h * w).index_put_((samples[:, None], channels[None, :], position),
                                        dm.to(g.dtype), accumulate=True)
        shapes = [(-1, 1)] * 3 + [(1, -1, 1, 1)] * 3
        grads = [dw0, dw1, dw2, du.sum(0), dv.sum(0), dz.sum(0)]  # w0..w2, bias0..bias2
        return (gx, None,
                *(d.reshape(shape).to(ctx.param_dtype) for d, shape in zip(grads, shapes)))
