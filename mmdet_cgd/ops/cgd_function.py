"""CGD for training, fused: few passes over the activation and nothing extra kept for backward.

The plain path (``CGD.forward_plain``: scripting, tracing, export, and the reference in the
tests) lets autograd record ``mean``, ``amax`` and ``x * (1 + att)``: it keeps the input ``x``
and builds several activation-sized temporaries. Here the forward reads ``x`` once for both
poolings (on CPU; twice elsewhere, see ``pool_hw``) and scales it once; backward keeps one
activation-sized tensor and (B, C) vectors. On CPU it finds each channel's max position
itself (``max_positions``), as the forward's ``torch.max(dim)`` would cost several times an
``amax`` there; elsewhere the forward's max comes with its position, and neither pass asks the
host for a value (no synchronisation: ``tests/test_ops/test_device_generic.py`` runs it on
``meta`` tensors). Through y = x * (1 + att), att = tanh(z) (equation (4) of ``cgd_attention``):

    dL/dz = sum_hw(dL/dy * x) * (1 - att^2) = sum_hw(dL/dy * y) * (1 - att)

``inplace=False`` keeps the input ``x`` (the x form): whatever later modifies ``y`` in place
(``out += identity``, an in-place ReLU) cannot corrupt backward. ``inplace=True`` scales ``x`` in
place and keeps ``y`` (the y form), no second activation: valid only where nothing else keeps
``x``, which ``check_inplace_is_safe`` enforces at forward; a consumer that then modifies ``y`` in
place is caught by autograd's version counter at backward.

The per-channel reductions and every (B, C) vector are float32 (or float64) also for float16
inputs: a loss-scaled float16 gradient summed over H x W overflows float16. At ties the
max-pool gradient goes to one position, the first in h * W + w order (as ``torch.argmax``),
where the plain path's ``amax`` splits it evenly; both are valid subgradients.
"""
import torch
from torch.autograd.function import once_differentiable

from mmdet_cgd.utils.torch_compat import is_compiling

from . import cgd_triton
from .cgd_attention import (
    attention_backward,
    attention_dtype,
    attention_terms,
    scale_by_attention,
)
from .inplace_safety import check_inplace_is_safe
from .pooling import (
    backward_reductions,
    chunked,
    pool_hw,
    pool_with_positions,
    sums_of_products,
)


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


def positions_lost_by_scaling(x: torch.Tensor, peak: torch.Tensor, scale: torch.Tensor):
    """Before ``x`` is scaled in place: exact max positions (-1 elsewhere) of the channels where
    ``peak * scale`` is 0 or subnormal in x's dtype, whose max ``y`` may no longer locate; None
    if there are none (the usual case). (CPU only: off the CPU the forward records every max
    position, and asking the host whether any is lost would synchronise.)"""
    lost = (peak * scale).abs() < torch.finfo(x.dtype).tiny  # NaN: not lost, y stays NaN there
    if not bool(lost.any()):
        return None
    exact = torch.full_like(peak, -1, dtype=torch.long)
    exact[lost] = x.flatten(2)[lost].argmax(1)
    return exact


def add_at_positions(gx: torch.Tensor, position: torch.Tensor, value: torch.Tensor) -> None:
    """``gx[n, c].flat[position[n, c]] += value[n, c]`` for every (n, c)."""
    n, c, h, w = gx.shape
    flat = gx.view(n, c, h * w)
    if chunked(gx):  # index_put_: scatter_add_ copies all of gx to float32 for float16 on CPU
        samples, channels = torch.arange(n, device=gx.device), torch.arange(c, device=gx.device)
        flat.index_put_((samples[:, None], channels[None, :], position), value, accumulate=True)
    else:  # one kernel, no host synchronisation
        flat.scatter_add_(2, position[:, :, None], value[:, :, None])


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
        dtype = attention_dtype(x.dtype)  # the small vectors: >= float32
        c = x.shape[1]
        # on CPU the max positions are found in backward (an argmax there costs several amax);
        # elsewhere the max comes with its position at no extra cost
        position = None
        if chunked(x):
            a, peak = pool_hw(x, dtype)
        else:
            a, peak, position = pool_with_positions(x, dtype)
        m = peak.to(dtype)
        param_dtype = w0.dtype
        w0, w1, w2, b0, b1, b2 = (p.to(dtype).view(1, c) for p in (w0, w1, w2, b0, b1, b2))
        s, p0, psi, p1, phi, q, att = attention_terms(a, m, w0, w1, w2, b0, b1, b2)
        scale = (1 + att).to(x.dtype)
        exact = position
        if inplace:  # no new activation-sized allocation (and its page faults on CPU)
            if position is None:
                exact = positions_lost_by_scaling(x, peak, scale)
            ctx.mark_dirty(x)
            y = x.mul_(scale[:, :, None, None])
        else:
            y = x * scale[:, :, None, None]
        kept = y if inplace else x  # see the module docstring: the y form or the x form
        ctx.save_for_backward(kept, exact, a, m, s, p0, p1, psi, phi, q, att, w0, w1, w2)
        ctx.inplace, ctx.param_dtype = inplace, param_dtype
        ctx.positions_recorded = position is not None
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        kept, exact, a, m, s, p0, p1, psi, phi, q, att, w0, w1, w2 = ctx.saved_tensors
        n, c, h, w = kept.shape
        gx = empty_gradient_like(kept, g.dtype)  # first the scratch for g * kept, then dL/dx
        # y = x * (1 + att): dz = sum_hw(g * y) * (1 - att) = sum_hw(g * x) * (1 - att^2)
        if ctx.positions_recorded:
            g_kept, position = sums_of_products(g, kept, gx, a.dtype), exact
        else:
            g_kept, first = backward_reductions(g, kept, gx, a.dtype)
            position = max_positions(first, exact)
        dz = g_kept * (1 - att) if ctx.inplace else g_kept * (1 - att) * (1 + att)
        da, dm, *grads = attention_backward(dz, a, m, s, p0, p1, psi, phi, q, w0, w1, w2)
        # a = mean_hw(x), m = max_hw(x), y = x * (1 + att): g * (1 + att) + da / HW everywhere,
        # and dm at each channel's max position
        scale = (1 + att).to(g.dtype)[:, :, None, None]
        torch.addcmul((da / (h * w)).to(g.dtype)[:, :, None, None], g, scale, out=gx)
        add_at_positions(gx, position, dm.to(g.dtype))
        shapes = [(-1, 1)] * 3 + [(1, -1, 1, 1)] * 3  # w0..w2, bias0..bias2
        return (gx, None,
                *(d.reshape(shape).to(ctx.param_dtype) for d, shape in zip(grads, shapes)))


def cgd(x: torch.Tensor, inplace: bool, *params: torch.Tensor) -> torch.Tensor:
    """CGD(x) in eager mode, ``params`` as ``(w0, w1, w2, bias0, bias1, bias2)``: the fused
    ``CGDFunction`` where autograd records (``TritonCGDFunction`` where ``cgd_triton``
    applies); otherwise pooled and scaled, in place under ``inplace``: on CPU by ``pool_hw``
    (one read of ``x``), where ``cgd_triton`` applies by its three inference launches.

    Never in place under torch.compile, which plans its own buffers: scaling a compiled
    graph's input in place through the Function gave wrong input gradients there (torch 2.14,
    ``tests/test_ops/test_cgd_function.py``)."""
    inplace = inplace and not is_compiling()
    fused = cgd_triton.applies(x)
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        return (cgd_triton.TritonCGDFunction if fused else CGDFunction).apply(x, inplace, *params)
    if fused:
        return cgd_triton.cgd_inference(x, inplace, *params)
    dtype = attention_dtype(x.dtype)
    mean, peak = pool_hw(x, dtype)
    return scale_by_attention(x, mean, peak.to(dtype), params, inplace)
