"""The CGD layer against its 7-pass bound, at the shapes of issue #24, per dtype.

A training forward + backward must move the activation at least 7 times: the forward reads x
for the pooling, then reads it again and writes y; the backward reads the gradient and the kept
tensor for the per-channel sums, then reads the gradient and writes the input gradient. At the
device's copy bandwidth (measured: a device-to-device copy reads and writes each byte once)
that is ``7 * bytes / bandwidth``. The layer is CGD in place, as the paper placement runs it,
its parameters float32 and x in the dtype: as users run it (``backend='auto'``: the Triton
kernels where they run) and on its PyTorch path (``backend='pytorch'``), the two timed alike.
Each time is one forward + backward between two CUDA events (host clock on CPU), host work
included, ``rounds`` after ``warmup``; the median with its order-statistic interval.
"""
from typing import List, Sequence

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


def train_seconds(layer: torch.nn.Module, shape: Sequence[int], dtype: torch.dtype, device: str,
                  rounds: int, warmup: int) -> List[float]:
    """Seconds of ``y = layer(x)`` and its backward, x a fresh non-leaf each round."""
    source = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
    g = torch.randn(shape, device=device, dtype=dtype)
    inputs = [source, *layer.parameters()]
    times = []
    for r in range(warmup + rounds):
        x = source.clone()  # a conv output's stand-in; not timed
        t = timed(lambda x=x: torch.autograd.grad(layer(x), inputs, g), device)
        if r >= warmup:
            times.append(t)
    return times


def cgd_path(x: torch.Tensor) -> str:
    """Which implementation ``mmdet_cgd.ops.cgd`` takes for ``x`` with ``backend='auto'``."""
    from mmdet_cgd.ops import cgd_triton, triton_unavailable_reason
    from mmdet_cgd.ops.dispatch import triton_allowed
    if triton_allowed('auto') and cgd_triton.applies(x):
        return 'Triton kernels'
    reason = triton_unavailable_reason()
    return f'PyTorch path: {reason}' if reason else 'PyTorch path'


def layer_against_bound(device: str, shapes=SHAPES, dtypes=('float32', 'float16'),
                        rounds: int = 30, warmup: int = 5, copy_bytes: int = 2**30,
                        confidence: float = 0.95) -> dict:
    """Rows per (shape, dtype): the layer's median with its interval (``backend='auto'``
    and ``'pytorch'``), the bound, their ratio and the goal."""
    from mmdet_cgd.models.layers import CGD
    bandwidth = copy_bandwidth(device, copy_bytes)
    rows = []
    for shape in shapes:
        torch.manual_seed(0)
        layer = CGD(shape[1], inplace=True).to(device)
        pytorch_path = CGD(shape[1], inplace=True, backend='pytorch').to(device)
        pytorch_path.load_state_dict(layer.state_dict())
        for name in dtypes:
            dtype = getattr(torch, name)
            cgd = median_interval(train_seconds(layer, shape, dtype, device, rounds, warmup),
                                  confidence)
            pytorch = median_interval(train_seconds(pytorch_path, shape, dtype, device, rounds,
                                                    warmup), confidence)
            bound = bound_seconds(shape, dtype, bandwidth)
            goal = GOAL_SECONDS.get(tuple(shape))
            rows.append(dict(shape=list(shape), dtype=name, bound=bound, ratio=cgd.median / bound,
                             path=cgd_path(torch.empty(shape, dtype=dtype, device=device)),
                             cgd=cgd.__dict__, pytorch_path=pytorch.__dict__,
                             goal=f'<= {goal * 1e3:.2f} ms' if goal else f'<= {GOAL_RATIO}x bound',
                             met=cgd.high <= (goal or GOAL_RATIO * bound)))
    return dict(bandwidth=bandwidth, rows=rows, rounds=rounds, warmup=warmup)


def bound_table(result: dict) -> str:
    ms = 1e3
    lines = [f"Device-to-device copy: {result['bandwidth'] / 1e9:.0f} GB/s (read + write). "
             f"Training forward + backward, median [95% interval] of {result['rounds']} after "
             f"{result['warmup']} warm-ups; the goal is met where the whole interval is "
             'within it.', '',
             "| activation (N, C, H, W) | dtype | CGD | CGD, backend='pytorch' | "
             '7-pass bound | CGD / bound | goal | met | CGD ran |',
             '| :-- | :-- | --: | --: | --: | --: | :-- | :-- | :-- |']
    for r in result['rows']:
        f, p = r['cgd'], r['pytorch_path']
        lines.append(f"| {', '.join(map(str, r['shape']))} | {r['dtype']} | "
                     f"{f['median'] * ms:.3f} ms [{f['low'] * ms:.3f}, {f['high'] * ms:.3f}] | "
                     f"{p['median'] * ms:.3f} ms | {r['bound'] * ms:.3f} ms | "
                     f"{r['ratio']:.2f} | {r['goal']} | {'yes' if r['met'] else 'no'} | "
                     f"{r['path']} |")
    return '\n'.join(lines)
