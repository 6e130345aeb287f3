"""Peak memory of one training step per variant.

On CPU the measure is the RSS peak, which depends on the process's history (a process that built
another variant keeps its heap and freed pages): each CPU measurement runs in a fresh child,
forked from a forkserver that has imported mmdet and built nothing (fresh heaps without paying
the imports again), that serves large allocations by mmap, so its RSS peak is that of the live
tensors. On CUDA ``max_memory_allocated`` counts the live tensors whatever ran before, so the
measurements run in this process (a spawned child would pay every import again; a forked one
cannot use CUDA: ``Cannot re-initialize CUDA in forked subprocess``, seen on the H200).
"""
import contextlib
import ctypes
import multiprocessing
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .workloads import build, workloads


def fresh_process_pool():
    """A one-worker pool whose worker is replaced after every task: each ``pool.apply`` runs
    in a new child, forked from a forkserver that has imported this module."""
    ctx = multiprocessing.get_context('forkserver')
    ctx.set_forkserver_preload(['cgd_cost.memory'])
    return ctx.Pool(1, maxtasksperchild=1)


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        return int(re.search(rf'{field}:\s+(\d+) kB', f.read()).group(1))


def peak_step_memory(step: Callable, device: str) -> int:
    """Bytes a training step adds at its peak over what was held before it (model, input,
    gradients). One step first, so one-time allocations (gradient buffers, library workspaces)
    are not counted. GPU: ``torch.cuda.max_memory_allocated``; CPU: the process's RSS
    high-water mark, reset before the measured step (Linux ``/proc/self/clear_refs``)."""
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


def _probe(model: str, variant: str, size: Tuple[int, int], batch: int, device: str,
           amp: Optional[str] = None, compile_backend: Optional[str] = None) -> int:
    """In the child: build one variant, measure one training step."""
    if torch.device(device).type == 'cpu':
        _mmap_large_allocations()
    torch.manual_seed(0)
    # a backbone's memory does not depend on its weights; a detector's heads do (its proposals)
    net = build(model, variant, device, share_plain_weights=model != 'backbone',
                compile_backend=compile_backend)
    _, forward_backward = workloads(model, net, size, batch, device, amp)
    return peak_step_memory(forward_backward, device)


def _mmap_large_allocations() -> None:
    """Have glibc serve every allocation over 64 KiB by mmap, so a freed tensor leaves RSS at
    once and the RSS peak follows the live tensors, not heap fragmentation (with glibc's
    adaptive threshold, identical processes peaked up to 12% apart)."""
    M_MMAP_THRESHOLD = -3
    ctypes.CDLL('libc.so.6').mallopt(M_MMAP_THRESHOLD, 64 * 1024)


def step_peaks(model: str, variants: Sequence[str], size: Tuple[int, int], batch: int,
               device: str, runs: int, on_run: Optional[Callable[[int], None]] = None,
               amp: Optional[str] = None, compile_backend: Optional[str] = None
               ) -> Dict[str, List[int]]:
    """``{variant: [peak bytes of run 0, run 1, ...]}``; run r measures every variant once (on
    CPU each in its own process), so runs pair the variants measured close together in time."""
    if runs < 1:
        raise ValueError(f'memory runs must be at least 1, got {runs}')
    peaks: Dict[str, List[int]] = {v: [] for v in variants}
    with contextlib.ExitStack() as stack:
        pool = (stack.enter_context(fresh_process_pool())
                if torch.device(device).type == 'cpu' else None)
        for r in range(runs):
            for v in variants:
                args = (model, v, tuple(size), batch, device, amp, compile_backend)
                peaks[v].append(pool.apply(_probe, args) if pool else _probe(*args))
            if on_run is not None:
                on_run(r)
    return peaks
