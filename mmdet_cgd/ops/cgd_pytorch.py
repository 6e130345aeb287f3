"""CGD with PyTorch's operators, on every device where the Triton path does not run (CPU; CUDA
on torch < 2.6): ``CGDFunction`` for training, ``cgd_inference`` otherwise.

The plain path (``CGD.forward_plain``: scripting, tracing, export, and the reference in the
tests) lets autograd record ``mean``, ``amax`` and ``x * (1 + att)``: it keeps the input ``x``
and builds several activation-sized temporaries. ``CGDFunction`` pools with one mean and one
``max(dim)``, which gives each channel's first max position (ties as ``torch.argmax``) with
its value, scales once, and keeps one activation-sized tensor and (N, C) vectors for backward;
nothing asks the host for a value (no synchronisation: the tests run it on ``meta`` tensors).
Through y = x * (1 + att), att = tanh(z) (equation (4) of ``cgd_attention``):

    dL/dz = sum_hw(dL/dy * x) * (1 - att^2) = sum_hw(dL/dy * y) * (1 - att)

``inplace=False`` keeps the input ``x`` (the x form): whatever later modifies ``y`` in place
(``out += identity``, an in-place ReLU) cannot corrupt backward. ``inplace=True`` scales ``x`` in
place and keeps ``y`` (the y form), no second activation: valid only where nothing else keeps
``x``, which ``check_inplace_is_safe`` enforces at forward; a consumer that then modifies ``y`` in
place is caught by autograd's version counter at backward.

The per-channel sums and every (N, C) vector are float32 (or float64) also for float16 inputs:
a loss-scaled float16 gradient summed over H x W overflows float16. At ties the max-pool
gradient goes to the first position in h * W + w order, where the plain path's ``amax`` splits
it evenly; both are valid subgradients.
"""
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .cgd_attention import (
    attention_backward,
    attention_dtype,
    attention_terms,
    packed_parameters,
    scale_by_attention,
)
from .inplace_safety import check_inplace_is_safe


def channels_last(t: Tensor) -> bool:
    """Whether ``t`` is laid out channels-last (and not also contiguous, as C = 1 can be)."""
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def flat_hw(t: Tensor):
    """``t`` (N, C, H, W) with H * W flattened in h * W + w order, and the dim it is in: a view
    (N, HW, C) of a channels-last tensor, (N, C, HW) otherwise (a copy if it must)."""
    n, c, h, w = t.shape
    if channels_last(t):
        return t.permute(0, 2, 3, 1).reshape(n, h * w, c), 1
    return t.reshape(n, c, h * w), 2


def empty_gradient_like(t: Tensor, dtype) -> Tensor:
    """An uninitialised gradient for ``t`` whose ``view(N, C, H * W)`` is a view, not a copy."""
    memory_format = torch.channels_last if channels_last(t) else torch.contiguous_format
    return torch.empty(t.shape, dtype=dtype, device=t.device, memory_format=memory_format)


class CGDFunction(torch.autograd.Function):
    """``CGDFunction.apply(x, inplace, w0, w1, w2, bias0, bias1, bias2)``: CGD(x) for training.

    ``inplace=True`` checks at forward that nothing already keeps ``x`` (``CGDConfigError``).
    """

    @staticmethod
    def forward(ctx, x, inplace, w0, w1, w2, b0, b1, b2):
        if inplace:
            check_inplace_is_safe(x)
        n, c, h, w = x.shape
        dtype = attention_dtype(x.dtype)  # the small vectors: >= float32
        flat, dim = flat_hw(x)
        peak, position = flat.max(dim)
        am = torch.stack((torch.mean(x, (2, 3), dtype=dtype), peak.to(dtype)))
        params = packed_parameters(w0, w1, w2, b0, b1, b2, dtype)
        s, p, u, q, att = attention_terms(am, params)
        scale = (1 + att).to(x.dtype).view(n, c, 1, 1)
        if inplace:  # no new activation-sized allocation (and its page faults on CPU)
            ctx.mark_dirty(x)
            y = x.mul_(scale)
        else:
            y = x * scale
        kept = y if inplace else x  # see the module docstring: the y form or the x form
        ctx.save_for_backward(kept, position, am, s, p, u, q, att, scale, params)
        ctx.inplace, ctx.param_dtype = inplace, w0.dtype
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        kept, position, am, s, p, u, q, att, scale, params = ctx.saved_tensors
        n, c, h, w = kept.shape
        gx = empty_gradient_like(kept, g.dtype)  # first the scratch for g * kept, then dL/dx
        g_kept = torch.sum(torch.mul(g, kept, out=gx), (2, 3), dtype=am.dtype)
        dz = (torch.addcmul(g_kept, g_kept, att, value=-1) if ctx.inplace  # * (1 - att)
              else torch.ops.aten.tanh_backward(g_kept, att))  # * (1 - att^2)
        da, dm, dw01, dw2, db01, db2 = attention_backward(dz, am, s, p, u, q, params)
        # a = mean_hw(x), m = max_hw(x), y = x * (1 + att): g * (1 + att) + da / HW everywhere
        # and dm at each channel's max position
        torch.addcmul((da / (h * w)).to(g.dtype).view(n, c, 1, 1), g, scale, out=gx)
        gx.view(n, c, h * w).scatter_add_(2, position.unsqueeze(2), dm.to(g.dtype).unsqueeze(2))
        weights = (d.view(-1, 1).to(ctx.param_dtype) for d in (dw01[0], dw01[1], dw2))
        biases = (d.view(1, -1, 1, 1).to(ctx.param_dtype) for d in (db01[0], db01[1], db2))
        return (gx, None, *weights, *biases)


def cgd_inference(x: Tensor, inplace: bool, *params: Tensor) -> Tensor:
    """CGD(x) where autograd does not record: pooled and scaled, in place under ``inplace``."""
    dtype = attention_dtype(x.dtype)
    return scale_by_attention(x, torch.mean(x, (2, 3), dtype=dtype), x.amax((2, 3)), params,
                              inplace)
