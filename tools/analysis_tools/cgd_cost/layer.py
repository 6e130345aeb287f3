"""The CGD layer alone, as the paper configs train it, against the memory-bandwidth bound.

Training forward, in place on a conv output with parameters requiring grad: CGD must read X once
to pool it and read and write it once to scale it. Bound: one read pass (``x.sum()``) plus one
in-place read/write pass (``x.mul_(v)``) over the same tensor.

Backward: it must reduce ``g * y`` per channel (read g and y) and write a new gradient
``gx = g * (1 + att)`` (read g, write gx). Bound: two read passes plus one pass that reads g and
writes a new tensor (``g * v``): a gradient is a fresh tensor, so its first-touch page faults on
CPU belong to the bound, as they do to every layer's backward.

Every round times the bound's passes and the layer back to back, in alternating order; the
figures are the per-round ratios, so drift over the run cancels. Rounds run in several fresh
processes: whether a new activation-sized tensor is page-faulted in or reuses freed memory
depends on the process's history, and shifts the ratios more than round-to-round noise does, so
each process's median ratio is one sample.
"""
import statistics
from typing import Dict, List, Sequence

import torch

from mmdet_cgd.models.layers import CGD

from .processes import fresh_process_pool
from .timing import sync, timed

FORWARD, BACKWARD = 'CGD training forward, in place', 'CGD backward, in place (y kept)'
FORWARD_ALLOCATING = 'CGD training forward, allocating'
BACKWARD_ALLOCATING = 'CGD backward, allocating (x kept)'
INFERENCE = 'CGD inference forward, in place'
READ, READ_WRITE_INPLACE, READ_WRITE_NEW = (
    'read pass: x.sum()', 'read/write pass in place: x.mul_(v)',
    'read/write pass into a new tensor: g * v')
FORWARD_BOUND = 'forward bound: read + read/write in place'
ALLOCATING_BOUND = 'allocating forward bound: read + read/write into a new tensor'
BACKWARD_BOUND = 'backward bound: 2 x read + read/write'


def layer_timings(shape: Sequence[int], rounds: int, warmup: int,
                  device: str) -> Dict[str, List[float]]:
    """Seconds per round for the bound's passes and the layer's forward and backward."""
    if len(shape) != 4:
        raise ValueError(f'the layer input shape must be (N, C, H, W), got {tuple(shape)}')
    torch.manual_seed(0)
    layer = CGD(shape[1], inplace=True).to(device)  # parameters require grad, as in training
    allocating = CGD(shape[1], inplace=False).to(device)
    allocating.load_state_dict(layer.state_dict())
    params, allocating_params = list(layer.parameters()), list(allocating.parameters())
    source = torch.randn(shape, device=device, requires_grad=True)  # the graph before the conv
    g = torch.randn(shape, device=device)
    scratch = torch.randn(shape, device=device)
    ones = torch.ones(shape[0], shape[1], 1, 1, device=device)  # x * 1: no drift over rounds
    scale = torch.randn(shape[0], shape[1], 1, 1, device=device)

    def layer_passes() -> Dict[str, float]:
        x = source.clone()  # a non-leaf that requires grad, like a conv output; not timed
        sync(device)
        t, y = {}, []
        t[FORWARD] = timed(lambda: y.append(layer(x)), device)
        # grad w.r.t. source runs CGD's backward and CloneBackward, which passes g through
        t[BACKWARD] = timed(lambda: torch.autograd.grad(y[0], [source, *params], g), device)
        x = source.clone()
        sync(device)
        t[FORWARD_ALLOCATING] = timed(lambda: y.append(allocating(x)), device)
        t[BACKWARD_ALLOCATING] = timed(
            lambda: torch.autograd.grad(y[1], [source, *allocating_params], g), device)
        with torch.no_grad():
            scratch.copy_(source)  # in-place scaling must not drift into denormals; not timed
            sync(device)
            t[INFERENCE] = timed(lambda: layer(scratch), device)
        return t

    def bound_passes() -> Dict[str, float]:
        return {READ: timed(lambda: scratch.sum(), device),
                READ_WRITE_INPLACE: timed(lambda: scratch.mul_(ones), device),
                READ_WRITE_NEW: timed(lambda: g * scale, device)}

    for _ in range(warmup):
        layer_passes()
        bound_passes()
    times: Dict[str, List[float]] = {}
    for r in range(rounds):
        groups = (layer_passes, bound_passes) if r % 2 == 0 else (bound_passes, layer_passes)
        for group in groups:
            for name, sec in group().items():
                times.setdefault(name, []).append(sec)
    times[FORWARD_BOUND] = [a + b for a, b in zip(times[READ], times[READ_WRITE_INPLACE])]
    times[ALLOCATING_BOUND] = [a + b for a, b in zip(times[READ], times[READ_WRITE_NEW])]
    times[BACKWARD_BOUND] = [2 * a + b for a, b in zip(times[READ], times[READ_WRITE_NEW])]
    return times


def layer_timings_in_fresh_processes(shape: Sequence[int], processes: int, rounds: int,
                                     warmup: int, device: str) -> List[Dict[str, List[float]]]:
    """``layer_timings`` in each of ``processes`` fresh child processes, one after another."""
    if processes < 1:
        raise ValueError(f'layer processes must be at least 1, got {processes}')
    with fresh_process_pool(device) as pool:
        return [pool.apply(layer_timings, (tuple(shape), rounds, warmup, device))
                for _ in range(processes)]


def pooled(per_process: Sequence[Dict[str, List[float]]]) -> Dict[str, List[float]]:
    """Every process's rounds together, per pass."""
    return {name: [t for times in per_process for t in times[name]] for name in per_process[0]}


def process_median_ratios(per_process: Sequence[Dict[str, List[float]]]
                          ) -> Dict[str, List[float]]:
    """Per process, the median of its per-round ratios: one sample per process."""
    ratios = [ratios_to_bounds(times) for times in per_process]
    return {name: [statistics.median(r[name]) for r in ratios] for name in ratios[0]}


def ratios_to_bounds(times: Dict[str, List[float]]) -> Dict[str, List[float]]:
    """Per round: each forward over its forward bound, each backward over the backward bound."""
    return {
        FORWARD: [a / b for a, b in zip(times[FORWARD], times[FORWARD_BOUND])],
        BACKWARD: [a / b for a, b in zip(times[BACKWARD], times[BACKWARD_BOUND])],
        FORWARD_ALLOCATING: [a / b for a, b in zip(times[FORWARD_ALLOCATING],
                                                   times[ALLOCATING_BOUND])],
        BACKWARD_ALLOCATING: [a / b for a, b in zip(times[BACKWARD_ALLOCATING],
                                                    times[BACKWARD_BOUND])],
        INFERENCE: [a / b for a, b in zip(times[INFERENCE], times[FORWARD_BOUND])],
    }
