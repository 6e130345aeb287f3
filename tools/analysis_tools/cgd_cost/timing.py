"""Wall-clock timing of workloads paired with their baseline, round after round.

On a shared machine the speed drifts by tens of percent over minutes; timing a candidate right
beside its baseline, in alternating order, lets the ratio of each pair cancel most of that drift.
"""
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch


def sync(device: str) -> None:
    """Wait for queued GPU work, so that a timer stops when the work is done."""
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def timed(fn: Callable, device: str) -> float:
    """Seconds that ``fn()`` takes, GPU work included. On a GPU, CUDA events time the stream
    (the host clock would add the synchronisation's own latency); queued work is drained first,
    so it is not counted."""
    sync(device)
    if device.startswith('cuda'):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired_times(pairs: Dict[str, Tuple[Callable, Callable]], rounds: int, warmup: int,
                 device: str, on_round: Optional[Callable[[int], None]] = None
                 ) -> Dict[str, List[Tuple[float, float]]]:
    """For each ``name: (baseline, candidate)``, ``rounds`` pairs of seconds ``(baseline,
    candidate)`` timed back to back; the order alternates from pair to pair (baseline first,
    then candidate first, ...). ``warmup`` untimed rounds run first; ``on_round(r)`` is called
    after each timed round."""
    if rounds < 1:
        raise ValueError(f'rounds must be at least 1, got {rounds}')
    for _ in range(warmup):
        for baseline, candidate in pairs.values():
            baseline()
            candidate()
    sync(device)
    times: Dict[str, List[Tuple[float, float]]] = {name: [] for name in pairs}
    for r in range(rounds):
        for i, (name, (baseline, candidate)) in enumerate(pairs.items()):
            if (r + i) % 2 == 0:
                base = timed(baseline, device)
                cand = timed(candidate, device)
            else:
                cand = timed(candidate, device)
                base = timed(baseline, device)
            times[name].append((base, cand))
        if on_round is not None:
            on_round(r)
    return times


def ratios(pairs: List[Tuple[float, float]]) -> List[float]:
    """Candidate over baseline, pair by pair."""
    return [cand / base for base, cand in pairs]
