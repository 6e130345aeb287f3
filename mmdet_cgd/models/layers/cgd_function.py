"""CGD for training, fused: fewer passes over the activation and nothing extra kept for backward.

The plain path (``CGD.forward`` under ``no_grad``, and the reference in the tests) lets autograd
record ``mean``, ``amax`` and ``x * (1 + att)``: it keeps the input ``x`` alive for backward and
builds several activation-sized temporaries there. Here backward needs only the output
``y = x * (1 + att)`` (which the next layer, BatchNorm in the paper's placement, keeps anyway),
``att`` and the argmax of each channel, because

    dL/dz = sum_hw(dL/dy * x) * (1 - att^2) = sum_hw(dL/dy * y) * (1 - att),   att = tanh(z).

The O(C) attention math is differentiated by hand below, equation by equation of
``attention_terms``. At ties the max-pool gradient goes to one position (as ``torch.max(dim)``),
where the plain path's ``amax`` splits it evenly; both are valid subgradients.
"""
import torch
from torch.autograd.function import once_differentiable


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
    s = a.softmax(1)
    p0 = (a * w0).sum(1, keepdim=True)
    psi = torch.tanh(s * p0 + b0)
    p1 = (m * w1).sum(1, keepdim=True)
    phi = torch.tanh(s * p1 + b1)
    q = (phi * w2).sum(1, keepdim=True)
    att = torch.tanh(psi * q + b2)
    return s, p0, psi, p1, phi, q, att


class CGDFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, inplace, w0, w1, w2, b0, b1, b2):
        dtype = torch.promote_types(x.dtype, torch.float32)  # the small vectors: >= float32
        c = x.shape[1]
        flat = x.flatten(2)  # a view for NCHW and channels_last alike
        a = flat.mean(2, dtype=dtype)
        peak, idx = flat.max(2)
        m = peak.to(dtype)
        param_dtype = w0.dtype
        w0, w1, w2, b0, b1, b2 = (p.to(dtype).view(1, c) for p in (w0, w1, w2, b0, b1, b2))
        s, p0, psi, p1, phi, q, att = attention_terms(a, m, w0, w1, w2, b0, b1, b2)
        scale = (1 + att).to(x.dtype)[:, :, None, None]
        if inplace:  # no new activation-sized allocation (and its page faults on CPU)
            ctx.mark_dirty(x)
            y = x.mul_(scale)
        else:
            y = x * scale
        ctx.save_for_backward(y, idx, a, m, s, p0, p1, psi, phi, q, att, w0, w1, w2)
        ctx.hw, ctx.param_dtype = flat.shape[2], param_dtype
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        y, idx, a, m, s, p0, p1, psi, phi, q, att, w0, w1, w2 = ctx.saved_tensors
        dtype = a.dtype
        # through y = x * (1 + att): dz = sum_hw(g * y) * (1 - att), in one pass, no temporary
        gy = torch.einsum('ncl,ncl->nc', g.flatten(2), y.flatten(2)).to(dtype)
        dz = gy * (1 - att)
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
        # x: g * (1 + att) + da / HW everywhere + dm at each channel's argmax
        scale = (1 + att).to(g.dtype)[:, :, None, None]
        gx = torch.addcmul((da / ctx.hw).to(g.dtype)[:, :, None, None], g, scale)
        if not (gx.is_contiguous() or gx.is_contiguous(memory_format=torch.channels_last)):
            gx = gx.contiguous()  # so that flatten(2) below is a view we can scatter into
        gx.flatten(2).scatter_add_(2, idx.unsqueeze(2), dm.to(g.dtype).unsqueeze(2))
        shapes = [(-1, 1)] * 3 + [(1, -1, 1, 1)] * 3
        grads = [dw0, dw1, dw2, du.sum(0), dv.sum(0), dz.sum(0)]  # w0..w2, bias0..bias2
        return (gx, None,
                *(d.reshape(shape).to(ctx.param_dtype) for d, shape in zip(grads, shapes)))
