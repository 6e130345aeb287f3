"""CGD on CUDA in six Triton launches per training step (pool, attention, scale; product sums,
attention derivative, input gradient): the host side, the custom ops and the
``autograd.Function``. The kernels, in ``cgd_triton_kernels``, are imported at the first launch.

In eager mode the op bodies are called directly, and each launch after a specialisation's first
hands its arguments straight to the kernel Triton compiled (``Launch``): on a GPU the layer's
cost is otherwise host time. torch.compile, export and fake tensors see the custom ops
``torch.ops.mmdet_cgd.cgd_{forward,backward}`` (``torch.library.triton_op``, torch >= 2.6).
Where Triton cannot run, CGD takes the PyTorch path, and ``triton_unavailable_reason`` (or a
warning, once per device) says why.
"""
import contextlib
import functools
import importlib.util
import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .cgd_attention import attention_dtype
from .inplace_safety import check_inplace_is_safe

# Device types whose tensors take the Triton path (a test adds 'cpu' under TRITON_INTERPRET=1),
# and the guard each launch runs under: the tensor's device, so also its current stream.
TRITON_DEVICES = ('cuda', )
DEVICE_GUARDS = {'cuda': torch.cuda.device}
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# Elements per program's tile, and programs to aim for (enough to fill a large GPU): a row of
# positions is split into that many ranges where the (sample, channel-block) pairs are fewer.
TILE = 4096
TARGET_PROGRAMS = 1024
# Widest channel dimension the per-sample kernels take in one block.
MAX_CHANNELS = 16384
# str(device) -> why Triton cannot run there, or None where it can (``runs_on``).
FAILURES = {}


def triton_unavailable_reason() -> Optional[str]:
    """Why the Triton path cannot run in this process, or None where it can."""
    if not hasattr(torch.library, 'triton_op'):
        return (f'torch {torch.__version__} has no torch.library.triton_op (torch >= 2.6): '
                'CGD runs its PyTorch path on CUDA')
    if importlib.util.find_spec('triton') is None:
        return 'Triton is not installed: CGD runs its PyTorch path on CUDA'
    return None


def applies(x: Tensor) -> bool:
    """Whether CGD on ``x`` takes the Triton path: a float tensor on a device where Triton
    runs, whose H and W collapse into one stride (contiguous or channels-last), with at most
    ``MAX_CHANNELS`` channels."""
    n, c, h, w = x.shape
    return (x.device.type in TRITON_DEVICES and x.dtype in DTYPES and x.numel() > 0
            and c <= MAX_CHANNELS and collapses(x) and OPS_REGISTERED and runs_on(x))


def runs_on(x: Tensor) -> bool:
    """Whether Triton launches on ``x``'s device, found once by a one-element probe kernel:
    where it cannot (no driver, an unsupported GPU), a warning says why, once, and CGD takes
    the PyTorch path there. (Assumed while compiling or on fake tensors: the probe runs on the
    first eager call.)"""
    key = str(x.device)
    if key not in FAILURES:
        if not is_eager(x):
            return True
        FAILURES[key] = probe(x.device)
        if FAILURES[key] is not None:
            warnings.warn(FAILURES[key], stacklevel=3)
    return FAILURES[key] is None


def probe(device: torch.device) -> Optional[str]:
    """None if a one-element kernel compiles, launches and writes on ``device``; else why not."""
    try:
        out = torch.zeros(1, device=device)
        with on_device(device):
            kernels().probe_kernel[(1, )](out)
        if out.item() != 1:
            raise RuntimeError('the probe kernel wrote nothing')
    except Exception as error:  # noqa: BLE001 (whatever fails, Triton cannot run there)
        return (f'Triton cannot run on {device} ({type(error).__name__}: {error}): CGD takes '
                'its PyTorch path there')
    return None


def on_device(device: torch.device):
    """The guard every launch on ``device`` runs under (none for the interpreter's CPU)."""
    guard = DEVICE_GUARDS.get(device.type)
    return guard(device) if guard is not None else contextlib.nullcontext()


def collapses(t: Tensor) -> bool:
    """Whether (H, W) of ``t`` is one run of positions with a single stride (a size-1 dim's
    stride is arbitrary)."""
    h, w = t.shape[2:]
    return h == 1 or w == 1 or t.stride(2) == w * t.stride(3)


def overlaps(t: Tensor) -> bool:
    """Whether two elements of ``t`` may share memory (``expand``, ``as_strided``): scaled in
    place, several programs would write one address."""
    if t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last):
        return False
    extent = 0
    for stride, size in sorted((s, n) for s, n in zip(t.stride(), t.shape) if n > 1):
        if stride <= extent:
            return True
        extent += stride * (size - 1)
    return False


def hw_strides(t: Tensor) -> Tuple[int, int, int]:
    """Strides of ``t`` over (N, C, flat h * W + w)."""
    return t.stride(0), t.stride(1), t.stride(3) if t.shape[3] > 1 else t.stride(2)


def next_power_of_2(n) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def channel_warps(c: int) -> int:
    """Warps for a per-sample kernel holding (C, ) vectors: more for wide layers."""
    return 4 if c <= 1024 else 8 if c <= 4096 else 16


def tiling(n: int, c: int, hw: int, positions_inner: bool) -> Tuple[int, int, int, int]:
    """``(BLOCK_C, BLOCK_HW, splits, split_len)`` for the activation-sized kernels: tiles
    along the contiguous dimension (positions, or channels for channels-last), and the
    positions split into ranges until there are about ``TARGET_PROGRAMS`` programs. A function
    of the shape and layout alone, so results are deterministic."""
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


@functools.lru_cache(maxsize=None)
def kernels():
    """``cgd_triton_kernels``, imported on first use (it imports Triton)."""
    from . import cgd_triton_kernels
    return cgd_triton_kernels


@functools.lru_cache(maxsize=None)
def direct_launches() -> bool:
    """Whether ``Launch`` may call compiled kernels itself: compiled (not the interpreter), and
    Triton >= 3.3, whose launchers take every argument, constexprs included."""
    import triton
    version = tuple(int(v) for v in triton.__version__.split('.')[:2])
    return version >= (3, 3) and isinstance(kernels().pool_kernel, triton.runtime.JITFunction)


class Launch:
    """One kernel's launch for one specialisation (shapes, strides, dtypes, alignment): grid,
    scalar arguments, constexprs, warps. Its first eager run goes through Triton's JIT, which
    compiles or finds the kernel; later ones hand the arguments to that kernel's launcher as
    the JIT itself would, without its per-call argument binding and cache look-up."""

    def __init__(self, kernel, grid, scalars, num_warps=4, **constants):
        self.kernel, self.scalars, self.constants = kernel, scalars, constants
        self.grid, self.num_warps, self.compiled = (*grid, 1, 1)[:3], num_warps, None
        self.arguments = scalars + tuple(constants.values())  # constexprs last, in order

    def traced(self, *tensors):
        """The launch as torch.compile and export trace it (inside the custom ops)."""
        torch.library.wrap_triton(self.kernel)[self.grid](
            *tensors, *self.scalars, **self.constants, num_warps=self.num_warps)

    def eager(self, direct, *tensors):
        """``direct``: None, or (stream, launch hooks) for a direct launch."""
        compiled = self.compiled
        if compiled is not None and direct is not None:
            compiled.run(*self.grid, direct[0], compiled.function, compiled.packed_metadata,
                         None, *direct[1:], *tensors, *self.arguments)
            return
        compiled = self.kernel[self.grid](*tensors, *self.scalars, **self.constants,
                                          num_warps=self.num_warps)
        if direct is not None and hasattr(compiled, 'packed_metadata'):
            self.compiled = compiled


def eager_launcher():
    """``run(launch, *tensors)`` for eager calls, inside the device's guard: direct launches
    on its current stream where ``direct_launches`` allows and no launch hook (a profiler's)
    wants to see them, Triton's JIT otherwise."""
    import triton
    direct = None
    if direct_launches():
        hooks = (triton.knobs.runtime.launch_enter_hook, triton.knobs.runtime.launch_exit_hook)
        if not any(getattr(h, 'calls', h is not None) for h in hooks):
            driver = triton.runtime.driver.active
            direct = (driver.get_current_stream(driver.get_current_device()), *hooks)
    return lambda launch, *tensors: launch.eager(direct, *tensors)


def is_eager(*tensors: Tensor) -> bool:
    """Plain tensors outside torch.compile: the op bodies are called directly."""
    return not torch.compiler.is_compiling() and all(type(t) is Tensor for t in tensors)


def parameter_key(params) -> tuple:
    """What of the six parameters a compiled kernel depends on: dtypes and channel strides."""
    w0, w1, w2, b0, b1, b2 = params
    return (w0.dtype, w1.dtype, w2.dtype, b0.dtype, b1.dtype, b2.dtype, w0.stride(0),
            w1.stride(0), w2.stride(0), b0.stride(1), b1.stride(1), b2.stride(1))


def aligned(*tensors: Tensor) -> tuple:
    """Triton specialises pointers on 16-byte alignment."""
    return tuple(t.data_ptr() % 16 == 0 for t in tensors)


@functools.lru_cache(maxsize=1024)
def forward_plan(param_strides, shape, x_strides, y_strides, *specialisation):
    """``(splits, pool, attention, scale)``: the forward's launches for one shape and layout
    (``specialisation``, the rest of what Triton compiles a kernel for, is only a cache key)."""
    (n, c), hw, k = shape[:2], shape[2] * shape[3], kernels()
    block_c, block_hw, splits, split_len = tiling(n, c, hw, x_strides[2] == 1 or hw == 1)
    grid, blocks = (n * -(-c // block_c), splits), dict(BLOCK_C=block_c, BLOCK_HW=block_hw)
    return (splits,
            Launch(k.pool_kernel, grid, (c, hw, *x_strides, split_len, splits), **blocks),
            Launch(k.attention_kernel, (n, ), (*param_strides, c, hw, splits), channel_warps(c),
                   BLOCK_C=next_power_of_2(c)),
            Launch(k.scale_kernel, grid, (c, hw, *x_strides, *y_strides, split_len), **blocks))


@functools.lru_cache(maxsize=1024)
def backward_plan(param_strides, shape, g_strides, kept_strides, gx_strides, kept_x,
                  *specialisation):
    """``(splits, product_sum, attention_backward, input_gradient)``, as ``forward_plan``."""
    (n, c), hw, k = shape[:2], shape[2] * shape[3], kernels()
    block_c, block_hw, splits, split_len = tiling(n, c, hw, kept_strides[2] == 1 or hw == 1)
    grid, blocks = (n * -(-c // block_c), splits), dict(BLOCK_C=block_c, BLOCK_HW=block_hw)
    return (splits,
            Launch(k.product_sum_kernel, grid,
                   (c, hw, *g_strides, *kept_strides, split_len, splits), **blocks),
            Launch(k.attention_backward_kernel, (n, ), (*param_strides, c, hw, splits),
                   channel_warps(c), KEPT_X=kept_x, BLOCK_C=next_power_of_2(c)),
            Launch(k.input_gradient_kernel, grid,
                   (n, c, hw, *g_strides, *gx_strides, split_len), **blocks))


def plan_for(build, eager: bool, tensors, params, *layout):
    """``build``'s plan for these tensors: in eager mode cached by everything a compiled kernel
    depends on; traced, built afresh from plain ints (symbolic sizes specialise)."""
    key = parameter_key(params)
    if eager:
        return build(key[6:], *layout, *(t.dtype for t in tensors), tensors[0].device, key[:6],
                     *aligned(*tensors, *params))
    return build.__wrapped__(tuple(map(int, key[6:])), *(
        tuple(map(int, v)) if isinstance(v, tuple) else v for v in layout))


def forward_impl(x: Tensor, y: Tensor, params, eager: bool = True):
    """``(att, mean, peak, position)`` per (N, C), and y = x * (1 + att) written to ``y``
    (which may be ``x``): the spatial mean and max of x and the first max position (int32,
    flat h * W + w) in float32 (float64 for float64 x)."""
    n, c = x.shape[:2]
    splits, pool, attention, scale = plan_for(forward_plan, eager, (x, y), params,
                                              tuple(x.shape), hw_strides(x), hw_strides(y))
    sums, maxima = (x.new_empty((n, c, splits), dtype=attention_dtype(x.dtype))
                    for _ in range(2))
    positions = x.new_empty((n, c, splits), dtype=torch.int32)
    att, mean, peak = (sums.new_empty((n, c)) for _ in range(3))
    position = positions.new_empty((n, c))
    with on_device(x.device):
        run = eager_launcher() if eager else Launch.traced
        run(pool, x, sums, maxima, positions)
        run(attention, sums, maxima, positions, *params, mean, peak, att, position)
        run(scale, x, att, y)
    return att, mean, peak, position


def backward_impl(g: Tensor, kept: Tensor, att: Tensor, mean: Tensor, peak: Tensor,
                  position: Tensor, w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor, b1: Tensor,
                  b2: Tensor, kept_x: bool, eager: bool = False) -> List[Tensor]:
    """``[dL/dx, dw0, dw1, dw2, dbias0, dbias1, dbias2]`` from dL/dy ``g`` and what the forward
    kept (``kept_x``: x itself, else y = x * (1 + att))."""
    n, c = kept.shape[:2]
    params = (w0, w1, w2, b0, b1, b2)
    if not collapses(g):
        g = g.contiguous(memory_format=torch.channels_last
                         if kept.is_contiguous(memory_format=torch.channels_last)
                         else torch.contiguous_format)
    gx = torch.empty_like(kept, dtype=g.dtype)  # kept's layout (preserve_format)
    splits, product_sum, attention_backward, input_gradient = plan_for(
        backward_plan, eager, (g, kept), params, tuple(kept.shape), hw_strides(g),
        hw_strides(kept), hw_strides(gx), kept_x)
    sums = mean.new_empty((n, c, splits))
    dmean, dpeak = torch.empty_like(mean), torch.empty_like(mean)
    shares = mean.new_empty((n, 6, c))  # per sample, summed in input_gradient_kernel
    grads = [torch.empty_like(p, memory_format=torch.contiguous_format) for p in params]
    with on_device(g.device):
        run = eager_launcher() if eager else Launch.traced
        run(product_sum, g, kept, sums)
        run(attention_backward, sums, mean, peak, att, *params, dmean, dpeak, shares)
        run(input_gradient, g, att, dmean, dpeak, position, gx, shares, *grads)
    return [gx, *grads]


class TritonCGDFunction(torch.autograd.Function):
    """``CGDFunction`` on CUDA: the same x and y forms, in three Triton launches each way;
    the forward records every max position. In place only in eager mode and where ``x``
    does not overlap itself (else out of place: the x form)."""

    @staticmethod
    def forward(ctx, x, inplace, w0, w1, w2, b0, b1, b2):
        params = (w0, w1, w2, b0, b1, b2)
        eager = is_eager(x)
        inplace = inplace and eager and not overlaps(x)
        if inplace:
            check_inplace_is_safe(x)
            ctx.mark_dirty(x)
        if eager:
            y = x if inplace else torch.empty_like(x)
            att, mean, peak, position = forward_impl(x, y, params)
        else:
            y, att, mean, peak, position = torch.ops.mmdet_cgd.cgd_forward(x, *params)
        ctx.save_for_backward(y if inplace else x, att, mean, peak, position, *params)
        ctx.inplace = inplace
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        saved = ctx.saved_tensors
        if is_eager(g, saved[0]):
            gx, *grads = backward_impl(g, *saved, not ctx.inplace, eager=True)
        else:
            gx, *grads = torch.ops.mmdet_cgd.cgd_backward(g, *saved, not ctx.inplace)
        return (gx, None, *grads)


def cgd_inference(x: Tensor, inplace: bool, *params: Tensor) -> Tensor:
    """CGD(x) where autograd does not record, in three launches; in place under ``inplace``
    while grad mode is off, in eager mode and where ``x`` does not overlap itself."""
    if not is_eager(x):
        return torch.ops.mmdet_cgd.cgd_forward(x, *params)[0]
    y = x if inplace and not torch.is_grad_enabled() and not overlaps(x) else torch.empty_like(x)
    forward_impl(x, y, params)
    return y


def register_ops() -> bool:
    """Define ``torch.ops.mmdet_cgd.cgd_forward`` (out of place) and ``cgd_backward``; False
    where ``triton_unavailable_reason`` says they cannot be."""
    if triton_unavailable_reason() is not None:
        return False

    @torch.library.triton_op('mmdet_cgd::cgd_forward', mutates_args=())
    def cgd_forward(x: Tensor, w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor, b1: Tensor,
                    b2: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        y = torch.empty_like(x)
        return (y, *forward_impl(x, y, (w0, w1, w2, b0, b1, b2), eager=False))

    @torch.library.triton_op('mmdet_cgd::cgd_backward', mutates_args=())
    def cgd_backward(g: Tensor, kept: Tensor, att: Tensor, mean: Tensor, peak: Tensor,
                     position: Tensor, w0: Tensor, w1: Tensor, w2: Tensor, b0: Tensor,
                     b1: Tensor, b2: Tensor, kept_x: bool) -> List[Tensor]:
        return backward_impl(g, kept, att, mean, peak, position, w0, w1, w2, b0, b1, b2,
                             kept_x)

    # Shapes alone, for meta and fake tensors (triton_op's default traces the body, which the
    # Triton interpreter cannot run on fake tensors)
    @cgd_forward.register_fake
    def _(x, *params):
        vectors = [x.new_empty(x.shape[:2], dtype=attention_dtype(x.dtype)) for _ in range(3)]
        return (torch.empty_like(x), *vectors, x.new_empty(x.shape[:2], dtype=torch.int32))

    @cgd_backward.register_fake
    def _(g, kept, att, mean, peak, position, *params_and_kept_x):
        return [torch.empty_like(kept, dtype=g.dtype),
                *(torch.empty_like(p, memory_format=torch.contiguous_format)
                  for p in params_and_kept_x[:6])]

    return True


OPS_REGISTERED = register_ops()
