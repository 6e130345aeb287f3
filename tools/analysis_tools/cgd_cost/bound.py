"""The CGD layer against its 7-pass bound, at the shapes of issue #24, per dtype.

A training forward + backward must move the activation at least 7 times: the forward reads x
for the pooling, then reads it again and writes y; the backward reads the gradient and the kept
tensor for the per-channel sums, then reads the gradient and writes the input gradient. At the
device's copy bandwidth (measured: a device-to-device copy reads and writes each byte once)
that is ``7 * bytes / bandwidth``. The layer is ``mmdet_cgd.ops.cgd`` (in place, as the paper
placement runs it), its parameters float32 and x in the dtype; the plain PyTorch path
(``CGD.forward_plain``, autograd over mean, amax and the product) is timed beside it. Each time
is one forward + backward between two CUDA events (host clock on CPU), ``rounds`` after
``warmup``; the median with its order-statistic interval.
"""
from typing import Callable, List, Sequence

import torch

from .stats import median_interval
from .timing import timed

SHAPES = ((2, 256, 200, 304), (8, 256, 200, 304), (2, 2048, 25, 38))
PASSES = 7
# issue #24's goals: at most this multiple of the bound, or at most these seconds
GOAL_RATIO, GOAL_SECONDS = 1.5, {(2, 2048, 25, 38): 1e-4}


def copy_bandwidth(device: str, nbytes: int, rounds: int = 20) -> float:
    """Bytes per second moved by ``dst.copy_(src)`` (read + write), median of ``rounds``."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    seconds = sorted(timed(lambda: dst.copy_(src), device) for _ in range(rounds))
    return 2 * nbytes / seconds[len(seconds) // 2]


def bound_seconds(shape: Sequence[int], dtype: torch.dtype, bandwidth: float) -> float:
    numel = 1
    for n in shape:
        numel *= n
    return PASSES * numel * torch.empty(0, dtype=dtype).element_size() / bandwidth


def train_seconds(layer_call: Callable, shape: Sequence[int], dtype: torch.dtype, device: str,
                  params: List[torch.Tensor], rounds: int, warmup: int) -> List[float]:
    """Seconds of ``y = layer_call(x)`` and its backward, x a fresh non-leaf each round."""
    source = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
    g = torch.randn(shape, device=device, dtype=dtype)
    times = []
    for r in range(warmup + rounds):
        x = source.clone()  # a conv output's stand-in; not timed

        t = timed(lambda x=x: torch.autograd.grad(layer_call(x), [source, *params], g), device)
        if r >= warmup:
            times.append(t)
    return times


def cgd_path(x: torch.Tensor) -> str:
    """Which implementation ``mmdet_cgd.ops.cgd`` takes for ``x``: its Triton kernels on CUDA
    where they can run, else its PyTorch path (with ``triton_unavailable_reason``)."""
    from mmdet_cgd.ops import triton_cgd
    reason = triton_cgd.triton_unavailable_reason()
    if reason:
        return f'PyTorch path: {reason}'
    return ('Triton kernels' if triton_cgd.applies(x) else
            'PyTorch path (this input does not take the Triton path)')


def layer_against_bound(device: str, shapes=SHAPES, dtypes=('float32', 'float16'),
                        rounds: int = 30, warmup: int = 5, copy_bytes: int = 2**30,
                        confidence: float = 0.95) -> dict:
    """Rows per (shape, dtype): fused and plain medians with intervals, the bound, ratios."""
    from mmdet_cgd.models.layers.cgd import CGD
    from mmdet_cgd.ops import cgd
    bandwidth = copy_bandwidth(device, copy_bytes)
    rows = []
    for shape in shapes:
        torch.manual_seed(0)
        layer = CGD(shape[1], inplace=True).to(device)
        params = list(layer.parameters_in_order())  # the order ops.cgd takes
        for name in dtypes:
            dtype = getattr(torch, name)
            fused = median_interval(train_seconds(lambda x, p=params: cgd(x, True, *p), shape,
                                                  dtype, device, params, rounds, warmup),
                                    confidence)
            plain = median_interval(train_seconds(layer.forward_plain, shape, dtype, device,
                                                  params, rounds, warmup), confidence)
            bound = bound_seconds(shape, dtype, bandwidth)
            path = cgd_path(torch.empty(shape, dtype=dtype, device=device))
            goal = GOAL_SECONDS.get(tuple(shape))
            rows.append(dict(shape=list(shape), dtype=name, path=path, fused=fused.__dict__,
                             plain=plain.__dict__, bound=bound, ratio=fused.median / bound,
                             goal=(f'<= {goal * 1e3:.2f} ms' if goal else
                                   f'<= {GOAL_RATIO}x bound'),
                             met=(fused.high <= goal) if goal else
                             (fused.high <= GOAL_RATIO * bound)))
    return dict(bandwidth=bandwidth, rows=rows, rounds=rounds, warmup=warmup)


def bound_table(result: dict) -> str:
    ms = 1e3
    lines = [f"Device-to-device copy: {result['bandwidth'] / 1e9:.0f} GB/s (read + write). "
             f"Training forward + backward, median [95% interval] of {result['rounds']} after "
             f"{result['warmup']} warm-ups; the goal is met where the whole interval is "
             'within it.', '',
             '| activation (N, C, H, W) | dtype | CGD (ops.cgd) | plain PyTorch path | '
             '7-pass bound | CGD / bound | goal | met | ops.cgd ran |',
             '| :-- | :-- | --: | --: | --: | --: | :-- | :-- | :-- |']
    for r in result['rows']:
        f, p = r['fused'], r['plain']
        lines.append(f"| {', '.join(map(str, r['shape']))} | {r['dtype']} | "
                     f"{f['median'] * ms:.3f} ms [{f['low'] * ms:.3f}, {f['high'] * ms:.3f}] | "
                     f"{p['median'] * ms:.3f} ms | {r['bound'] * ms:.3f} ms | "
                     f"{r['ratio']:.2f} | {r['goal']} | {'yes' if r['met'] else 'no'} | "
                     f"{r['path']} |")
    return '\n'.join(lines)
