"""CGD's attention from the pooled vectors, and its derivative: the one place for each equation.

With a = avg_pool(X) and m = max_pool(X), per sample (arXiv 1907.09665, the cascaded scheme),
and ``s a^T w0 = s * (a . w0)`` keeping it O(C):

    (1) s   = softmax(a)
    (2) psi = tanh(s * p0 + b0),   p0 = a . w0
    (3) phi = tanh(s * p1 + b1),   p1 = m . w1
    (4) att = tanh(psi * q + b2),  q  = phi . w2

(2) and (3) are computed together, as the rows of ``u = (psi, phi)`` from ``am = (a, m)`` and
``p = (p0, p1)``: each (N, C) operation then runs once for both. ``attention_terms`` computes
them (every PyTorch path: ``CGD.forward_plain``, inference, ``CGDFunction``);
``attention_backward`` differentiates them for ``CGDFunction``, each block naming the equation
it differentiates. A change to one equation is a change to both, here.
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


def packed_parameters(w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor, b1: Tensor, b2: Tensor,
                      dtype: torch.dtype) -> Tensor:
    """The six parameters as the rows of one (7, C) tensor in ``dtype``: ``w0, w1, 0, w2, b0,
    b1, b2`` (one copy instead of six casts; the zero row is psi's weight in ``q``)."""
    rows = [w0, w1, torch.zeros_like(w2), w2, b0, b1, b2]
    return torch.cat([r.reshape(1, -1) for r in rows]).to(dtype)


def attention_terms(am: Tensor, params: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(s, p, u, q, att)`` from ``am``, the pooled (a, m) stacked as (2, N, C), and
    ``params`` from ``packed_parameters``.

    Dot products are mul + sum rather than matmul so autocast leaves their dtype alone. A sample
    whose pooled vectors hold a NaN or an infinity comes out all NaN: a NaN or +inf in ``a``
    makes all of ``s`` NaN, a -inf makes psi NaN where s is 0, and ``q`` sums ``psi * 0`` with
    ``phi . w2`` (a NaN there reaches every channel); saturated tanh must not turn a broken
    input into a finite-looking output.
    """
    a = am[0]
    # (1) written out: torch's CPU softmax opens a thread pool even for a (N, C) vector, which
    # costs milliseconds whenever the cores are busy
    e = (a - a.amax(1, keepdim=True)).exp()
    s = e / e.sum(1, keepdim=True)
    p = (am * params[0:2].unsqueeze(1)).sum(2, keepdim=True)  # (p0, p1)
    u = torch.tanh(torch.addcmul(params[4:6].unsqueeze(1), s, p))  # (2), (3)
    q = (u * params[2:4].unsqueeze(1)).sum((0, 2)).unsqueeze(1)  # psi . 0 + phi . w2
    att = torch.tanh(torch.addcmul(params[6:7], u[0], q))  # (4)
    return s, p, u, q, att


def attention_backward(dz: Tensor, am: Tensor, s: Tensor, p: Tensor, u: Tensor, q: Tensor,
                       params: Tensor):
    """From dz = dL/d(psi * q + b2), the gradient of (4)'s tanh argument, and the forward's
    terms: ``(da, dm, (dw0, dw1), dw2, (db0, db1), db2)``, per sample for a and m, summed over
    the batch for the parameters."""
    # (4) att = tanh(psi * q + b2), q = phi . w2
    dq = (dz * u[0]).sum(1, keepdim=True)
    du = dq.unsqueeze(0) * params[2:4].unsqueeze(1)  # (0, dphi)
    du[0].addcmul_(dz, q)  # dpsi
    # (2), (3) u = tanh(s * p + b), p = (a . w0, m . w1)
    dv = torch.ops.aten.tanh_backward(du, u)
    dp = (dv * s).sum(2, keepdim=True)
    dam = dp * params[0:2].unsqueeze(1)  # (da through p0, dm)
    # (1) s = softmax(a), reached through (2) and (3)
    ds = (dv * p).sum(0)
    da = dam[0] + torch.ops.aten._softmax_backward_data(ds, s, 1, s.dtype)
    return da, dam[1], (dp * am).sum(1), (dq * u[1]).sum(0), dv.sum(1), dz.sum(0)


def scale_by_attention(x: Tensor, a: Tensor, m: Tensor, params: Tuple[Tensor, Tensor, Tensor,
                                                                      Tensor, Tensor, Tensor],
                       inplace: bool = False) -> Tensor:
    """``x * (1 + att)`` from the (N, C) spatial mean ``a`` and max ``m`` of ``x`` (``a`` in
    float32 or float64) and the layer's ``(w0, w1, w2, bias0, bias1, bias2)``; in place under
    ``inplace`` where autograd does not record."""
    w0, w1, w2, b0, b1, b2 = params  # unpacked by name: TorchScript scripts this function
    att = attention_terms(torch.stack((a, m.to(a.dtype))),
                          packed_parameters(w0, w1, w2, b0, b1, b2, a.dtype))[-1]
    scale = (1 + att).to(x.dtype)[:, :, None, None]
    if inplace and not torch.is_grad_enabled():
        return x.mul_(scale)
    return x * scale
