"""CGD's attention from the pooled vectors, and its derivative: the one place for each equation.

With a = avg_pool(X) and m = max_pool(X), per sample (arXiv 1907.09665, the cascaded scheme),
and ``s a^T w0 = s * (a . w0)`` keeping it O(C):

    (1) s   = softmax(a)
    (2) psi = tanh(s * p0 + b0),   p0 = a . w0
    (3) phi = tanh(s * p1 + b1),   p1 = m . w1
    (4) att = tanh(psi * q + b2),  q  = phi . w2

``attention_terms`` computes them (used by every CGD path: ``CGD.forward_plain``, inference and
``CGDFunction``); ``attention_backward`` differentiates them for ``CGDFunction``, each block
naming the equation it differentiates. A change to one equation is a change to both, here.
"""
from typing import Tuple

import torch
from torch import Tensor


def attention_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of the pooled vectors and the attention: float64 for float64 inputs, float32
    for everything narrower (float16/bfloat16 sums of H x W positions overflow or lose digits).
    (``torch.promote_types(dtype, torch.float32)``, written out: torch.compile on torch 2.1
    cannot trace ``promote_types``.)"""
    return torch.float64 if dtype == torch.float64 else torch.float32


def attention_terms(a, m, w0, w1, w2, b0, b1, b2):
    """``(s, p0, psi, p1, phi, q, att)`` from the pooled (B, C) vectors a (mean) and m (max)
    and the (1, C) parameters.

    Dot products are mul + sum rather than matmul so autocast leaves their dtype alone. A sample
    whose pooled vectors hold a NaN or an infinity comes out all NaN (``v - v`` is NaN there and
    0 elsewhere): saturated tanh must not turn a broken input into a finite-looking output.
    """
    a, m = a + (a - a), m + (m - m)
    # (1) written out: torch's CPU softmax opens a thread pool even for a (B, C) vector, which
    # costs milliseconds whenever the cores are busy
    e = (a - a.amax(1, keepdim=True)).exp()
    s = e / e.sum(1, keepdim=True)
    p0 = (a * w0).sum(1, keepdim=True)
    psi = torch.tanh(s * p0 + b0)  # (2)
    p1 = (m * w1).sum(1, keepdim=True)
    phi = torch.tanh(s * p1 + b1)  # (3)
    q = (phi * w2).sum(1, keepdim=True)
    att = torch.tanh(psi * q + b2)  # (4)
    return s, p0, psi, p1, phi, q, att


def attention_backward(dz, a, m, s, p0, p1, psi, phi, q, w0, w1, w2):
    """From dz = dL/d(psi * q + b2), the gradient of (4)'s tanh argument, and the forward's
    terms: ``(da, dm, dw0, dw1, dw2, db0, db1, db2)``, per sample for a and m, summed over the
    batch for the (C, ) parameter gradients."""
    # (4) att = tanh(psi * q + b2), q = phi . w2
    dpsi, dq = dz * q, (dz * psi).sum(1, keepdim=True)
    dphi, dw2 = dq * w2, (dq * phi).sum(0)
    # (3) phi = tanh(s * p1 + b1), p1 = m . w1
    dv = dphi * (1 - phi * phi)
    dp1 = (dv * s).sum(1, keepdim=True)
    dm, dw1 = dp1 * w1, (dp1 * m).sum(0)
    # (2) psi = tanh(s * p0 + b0), p0 = a . w0
    du = dpsi * (1 - psi * psi)
    dp0 = (du * s).sum(1, keepdim=True)
    dw0 = (dp0 * a).sum(0)
    # (1) s = softmax(a), reached through (2) and (3)
    ds = du * p0 + dv * p1
    da = dp0 * w0 + s * (ds - (ds * s).sum(1, keepdim=True))
    return da, dm, dw0, dw1, dw2, du.sum(0), dv.sum(0), dz.sum(0)


def scale_by_attention(x: Tensor, a: Tensor, m: Tensor, params: Tuple[Tensor, Tensor, Tensor,
                                                                      Tensor, Tensor, Tensor],
                       inplace: bool = False) -> Tensor:
    """``x * (1 + att)`` from the (N, C) spatial mean ``a`` and max ``m`` of ``x`` (in float32
    or float64) and the layer's ``(w0, w1, w2, bias0, bias1, bias2)``; in place under
    ``inplace`` where autograd does not record."""
    w0, w1, w2, b0, b1, b2 = params  # unpacked by name: TorchScript scripts this function
    att = attention_terms(a, m, w0.to(a.dtype).view(1, -1), w1.to(a.dtype).view(1, -1),
                          w2.to(a.dtype).view(1, -1), b0.to(a.dtype).view(1, -1),
                          b1.to(a.dtype).view(1, -1), b2.to(a.dtype).view(1, -1))[-1]
    scale = (1 + att).to(x.dtype)[:, :, None, None]
    if inplace and not torch.is_grad_enabled():
        return x.mul_(scale)
    return x * scale
