"""Interleaved, warmed-up, median timings and peak training-step memory."""
import ctypes
import json
import re
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


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(rf'{field}:\s+(\d+) kB', f.read()).group(1))


def peak_step_memory(step: Callable, device: str) -> int:
    """Bytes a training step adds at its peak over what was held before it (model, gradients,
    optimizer-free). One step first, so one-time allocations (gradient buffers, library
    workspaces) are not counted. On CPU the peak is the process's RSS high-water mark, reset
    before the measured step (Linux ``/proc/self/clear_refs``)."""
    step()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    ctypes.CDLL('libc.so.6').malloc_trim(0)  # give freed memory back, so RSS is what is held
    before = _status_kib('VmRSS')
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset VmHWM to the current RSS
    step()
    return (_status_kib('VmHWM') - before) * 1024


def peak_step_memory_in_child(model: str, variant: str, size, batch: int, device: str) -> int:
    """``peak_step_memory`` in a fresh Python process, so no variant inherits another's heap."""
    args = [sys.executable, '-m', 'mmdet_cgd.benchmark.memory_probe', model, variant,
            str(size[0]), str(size[1]), str(batch), device]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_bytes']
