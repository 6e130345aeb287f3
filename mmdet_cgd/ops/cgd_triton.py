"""CGD on CUDA in six Triton launches per training step: host wrappers, custom ops and the
``autograd.Function`` (the kernels are in ``cgd_triton_kernels``, imported at the first launch
so that importing the package does not import Triton).

Off the CPU, PyTorch's path costs about 100 small kernels per training forward + backward,
most on (N, C) vectors: on a GPU its time is launch overhead, whatever the activation's size.
Here the forward is three kernels (pool, attention, scale) and backward three (product sums,
attention derivative with the parameter gradients, input gradient).

The kernels run inside ``torch.library.triton_op`` ops (``torch.ops.mmdet_cgd.cgd_*``), so
``meta`` and fake tensors, ``torch.compile(fullgraph=True)`` and export see ordinary operators
with their shapes (torch >= 2.6). Where they cannot run (no Triton, an older torch) CGD takes
the PyTorch path, and ``triton_unavailable_reason`` says why.
"""
import functools
import importlib.util
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .cgd_attention import attention_dtype
from .inplace_safety import check_inplace_is_safe

# Device types whose tensors take the Triton path (a test adds 'cpu' under TRITON_INTERPRET=1).
TRITON_DEVICES = ('cuda', )
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Elements per program's tile, and programs to aim for (enough to fill a large GPU): a row of
# positions is split into that many ranges where the (sample, channel-block) pairs are fewer.
TILE = 4096
TARGET_PROGRAMS = 1024
# Widest channel dimension the per-sample kernels take in one block.
MAX_CHANNELS = 16384


def triton_unavailable_reason() -> Optional[str]:
    """Why the Triton path cannot run in this process, or None where it can."""
    if not hasattr(torch.library, 'triton_op'):
        return (f'torch {torch.__version__} has no torch.library.triton_op (torch >= 2.6): '
                'CGD runs its PyTorch path on CUDA')
    if importlib.util.find_spec('triton') is None:
        return 'Triton is not installed: CGD runs its PyTorch path on CUDA'
    return None


def applies(x: Tensor) -> bool:
    """Whether CGD on ``x`` takes the Triton path: a CUDA float tensor whose H and W collapse
    into one stride (contiguous or channels-last), with at most ``MAX_CHANNELS`` channels."""
    n, c, h, w = x.shape
    return (x.device.type in TRITON_DEVICES and x.dtype in DTYPES and x.numel() > 0
            and c <= MAX_CHANNELS and collapses(x) and OPS_REGISTERED)


def collapses(t: Tensor) -> bool:
    """Whether (H, W) of ``t`` is one run of positions with a single stride (a size-1 dim's
    stride is arbitrary)."""
    h, w = t.shape[2:]
    return h == 1 or w == 1 or t.stride(2) == w * t.stride(3)


def hw_strides(t: Tensor) -> Tuple[int, int, int]:
    """Strides of ``t`` over (N, C, flat h * W + w)."""
    return t.stride(0), t.stride(1), t.stride(3) if t.shape[3] > 1 else t.stride(2)


def next_power_of_2(n) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def tiling(t: Tensor) -> Tuple[int, int, int, int]:
    """``(BLOCK_C, BLOCK_HW, splits, split_len)`` for the activation-sized kernels: tiles
    along the contiguous dimension (positions, or channels for channels-last), and the
    positions split into ranges until there are about ``TARGET_PROGRAMS`` programs. A function
    of the shape and layout alone, so results are deterministic. (``int``: under
    torch.compile with dynamic shapes the block sizes specialise, as constexprs must.)"""
    n, c, h, w = (int(d) for d in t.shape)
    hw = h * w
    positions_inner = hw_strides(t)[2] == 1 or hw == 1
    if positions_inner:
        block_hw = min(next_power_of_2(hw), 1024)
        block_c = min(next_power_of_2(c), max(1, TILE // block_hw))
    else:
        block_c = min(next_power_of_2(c), 256)
        block_hw = min(next_power_of_2(hw), max(1, TILE // block_c))
    pairs = n * -(-c // block_c)
    chunks = -(-hw // block_hw)
    splits = min(chunks, max(1, -(-TARGET_PROGRAMS // pairs)))
    split_len = -(-chunks // splits) * block_hw
    return block_c, block_hw, -(-hw // split_len), split_len


def launch(kernel, grid, *args, **meta):
    """Launch a Triton kernel so that torch.compile and export can trace it."""
    torch.library.wrap_triton(kernel)[grid](*args, **meta)


@functools.lru_cache(maxsize=None)
def kernels():
    """``cgd_triton_kernels``, imported on first use (it imports Triton)."""
    from . import cgd_triton_kernels
    return cgd_triton_kernels


def attention_impl(x: Tensor, w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor, b1: Tensor,
                   b2: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(att, mean, peak, position)`` per (N, C): the spatial mean and max of x and the first
    max position (int32, flat h * W + w) in float32 (float64 for float64 x)."""
    n, c, h, w = x.shape
    k = kernels()
    vec_dtype = attention_dtype(x.dtype)
    block_c, block_hw, splits, split_len = tiling(x)
    sums = x.new_empty((n, c, splits), dtype=vec_dtype)
    maxima = x.new_empty((n, c, splits), dtype=vec_dtype)
    positions = x.new_empty((n, c, splits), dtype=torch.int32)
    launch(k.pool_kernel, (n * -(-c // block_c), splits), x, sums, maxima, positions, c, h * w,
           *hw_strides(x), split_len, splits, BLOCK_C=block_c, BLOCK_HW=block_hw)
    att, mean, peak = (x.new_empty((n, c), dtype=vec_dtype) for _ in range(3))
    position = x.new_empty((n, c), dtype=torch.int32)
    launch(k.attention_kernel, (n, ), sums, maxima, positions, w0, w1, w2, b0, b1, b2, mean,
           peak, att, position, c, h * w, splits, BLOCK_C=next_power_of_2(c),
           num_warps=channel_warps(c))
    return att, mean, peak, position


def channel_warps(c: int) -> int:
    """Warps for a per-sample kernel holding (C, ) vectors: more for wide layers."""
    return 4 if c <= 1024 else 8 if c <= 4096 else 16


def scale_into(x: Tensor, att: Tensor, y: Tensor) -> None:
    """y = x * (1 + att); ``y`` may be ``x``."""
    n, c, h, w = x.shape
    block_c, block_hw, splits, split_len = tiling(x)
    launch(kernels().scale_kernel, (n * -(-c // block_c), splits), x, att, y, c, h * w,
           *hw_strides(x), *hw_strides(y), split_len, BLOCK_C=block_c, BLOCK_HW=block_hw)


def backward_impl(g: Tensor, kept: Tensor, att: Tensor, mean: Tensor, peak: Tensor,
                  position: Tensor, w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor, b1: Tensor,
                  b2: Tensor, kept_x: bool) -> List[Tensor]:
    """``[dL/dx, dw0, dw1, dw2, dbias0, dbias1, dbias2]`` from dL/dy ``g`` and what the forward
    kept (``kept_x``: x itself, else y = x * (1 + att))."""
    n, c, h, w = kept.shape
    k = kernels()
    if not collapses(g):
        g = g.contiguous(memory_format=torch.channels_last
                         if kept.is_contiguous(memory_format=torch.channels_last)
                         else torch.contiguous_format)
    block_c, block_hw, splits, split_len = tiling(kept)
    grid = (n * -(-c // block_c), splits)
    sums = kept.new_empty((n, c, splits), dtype=mean.dtype)
    launch(k.product_sum_kernel, grid, g, kept, sums, c, h * w, *hw_strides(g),
           *hw_strides(kept), split_len, splits, BLOCK_C=block_c, BLOCK_HW=block_hw)
    dmean, dpeak = torch.empty_like(mean), torch.empty_like(mean)
    grads = [torch.empty_like(p) for p in (w0, w1, w2, b0, b1, b2)]
    launch(k.attention_backward_kernel, (1, ), sums, mean, peak, att, w0, w1, w2, b0, b1, b2,
           dmean, dpeak, *grads, n, c, h * w, splits, KEPT_X=kept_x,
           BLOCK_C=next_power_of_2(c), num_warps=channel_warps(c))
    gx = torch.empty_like(kept, dtype=g.dtype)  # kept's layout (preserve_format)
    launch(k.input_gradient_kernel, grid, g, att, dmean, dpeak, position, gx, c, h * w,
           *hw_strides(g), *hw_strides(gx), split_len, BLOCK_C=block_c, BLOCK_HW=block_hw)
    return [gx, *grads]


def register_ops() -> bool:
    """Define ``torch.ops.mmdet_cgd.cgd_{attention,scale,scale_,backward}``; False where
    ``triton_unavailable_reason`` says they cannot be."""
    if triton_unavailable_reason() is not None:
        return False
    triton_op = torch.library.triton_op

    @triton_op('mmdet_cgd::cgd_attention', mutates_args=())
    def cgd_attention(x: Tensor, w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor, b1: Tensor,
                      b2: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        return attention_impl(x, w0, w1, w2, b0, b1, b2)

    @triton_op('mmdet_cgd::cgd_scale', mutates_args=())
    def cgd_scale(x: Tensor, att: Tensor) -> Tensor:
        y = torch.empty_like(x)
        scale_into(x, att, y)
        return y

    @triton_op('mmdet_cgd::cgd_scale_', mutates_args=('x', ))
    def cgd_scale_(x: Tensor, att: Tensor) -> None:
        scale_into(x, att, x)

    @triton_op('mmdet_cgd::cgd_backward', mutates_args=())
    def cgd_backward(g: Tensor, kept: Tensor, att: Tensor, mean: Tensor, peak: Tensor,
                     position: Tensor, w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor,
                     b1: Tensor, b2: Tensor, kept_x: bool) -> List[Tensor]:
        return backward_impl(g, kept, att, mean, peak, position, w0, w1, w2, b0, b1, b2,
                             kept_x)

    # Shapes alone, for meta and fake tensors (triton_op's default traces the body, which the
    # Triton interpreter cannot run on fake tensors)
    @cgd_attention.register_fake
    def _(x, w0, w1, w2, b0, b1, b2):
        vectors = [x.new_empty(x.shape[:2], dtype=attention_dtype(x.dtype)) for _ in range(3)]
        return (*vectors, x.new_empty(x.shape[:2], dtype=torch.int32))

    @cgd_scale.register_fake
    def _(x, att):
        return torch.empty_like(x)

    @cgd_scale_.register_fake
    def _(x, att):
        return None

    @cgd_backward.register_fake
    def _(g, kept, att, mean, peak, position, w0, w1, w2, b0, b1, b2, kept_x):
        return [torch.empty_like(kept, dtype=g.dtype),
                *(torch.empty_like(p) for p in (w0, w1, w2, b0, b1, b2))]

    return True


OPS_REGISTERED = register_ops()


class TritonCGDFunction(torch.autograd.Function):
    """``CGDFunction`` on CUDA: the same x and y forms, in three Triton launches each way;
    the forward records every max position."""

    @staticmethod
    def forward(ctx, x, inplace, w0, w1, w2, b0, b1, b2):
        if inplace:
            check_inplace_is_safe(x)
        att, mean, peak, position = torch.ops.mmdet_cgd.cgd_attention(x, w0, w1, w2, b0, b1, b2)
        if inplace:
            torch.ops.mmdet_cgd.cgd_scale_(x, att)
            ctx.mark_dirty(x)
            y = x
        else:
            y = torch.ops.mmdet_cgd.cgd_scale(x, att)
        ctx.save_for_backward(y if inplace else x, att, mean, peak, position, w0, w1, w2, b0, b1,
                              b2)
        ctx.inplace = inplace
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        kept, att, mean, peak, position, *params = ctx.saved_tensors
        gx, *grads = torch.ops.mmdet_cgd.cgd_backward(g, kept, att, mean, peak, position,
                                                      *params, not ctx.inplace)
        return (gx, None, *grads)


def cgd_inference(x: Tensor, inplace: bool, *params: Tensor) -> Tensor:
    """CGD(x) where autograd does not record, in three launches; in place under ``inplace``
    while grad mode is off."""
    att = torch.ops.mmdet_cgd.cgd_attention(x, *params)[0]
    if inplace and not torch.is_grad_enabled():
        torch.ops.mmdet_cgd.cgd_scale_(x, att)
        return x
    return torch.ops.mmdet_cgd.cgd_scale(x, att)
