"""Interleaved, warmed-up, median timings and peak training-step memory."""
import json
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import Callable, Dict, List

import torch


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def interleaved_medians(fns: Dict[str, Callable], repeats: int, warmup: int,
                        device: str) -> Dict[str, float]:
    """Run every fn once per round, round after round, so drift hits all alike; median seconds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
            sync(device)
    times: Dict[str, List[float]] = defaultdict(list)
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _current_rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def peak_step_memory(step: Callable, device: str) -> int:
    """Bytes a training step adds at its peak over what was held before it (on CPU: run this in
    a fresh process, as ``ru_maxrss`` is the process's lifetime peak)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    before = _current_rss()
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before


def peak_step_memory_in_child(model: str, variant: str, size, batch: int, device: str) -> int:
    """``peak_step_memory`` in a fresh Python process (CPU peaks are per process)."""
    args = [sys.executable, '-m', 'mmdet_cgd.benchmark.memory_probe', model, variant,
            str(size[0]), str(size[1]), str(batch), device]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_bytes']
