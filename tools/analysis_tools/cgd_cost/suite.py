"""One model at one size: every variant's size, FLOPs, paired timings and peak memory.

The result is plain data (JSON-ready): raw seconds and bytes, so the report can compute its
statistics and anyone can recompute them from ``benchmark.json``.
"""
import time
from typing import Callable, List, Optional, Sequence, Tuple

from mmengine.analysis import parameter_count

from .flops import count_flops
from .memory import step_peaks
from .timing import paired_times
from .workloads import build, workloads

BASELINE = 'plain'
MEASURES = ('forward', 'forward_backward')


def measure_model(model: str, variants: Sequence[str], size: Tuple[int, int], batch: int,
                  rounds: int, warmup: int, memory_runs: int, device: str,
                  flops_size: Optional[Tuple[int, int]] = None,
                  log: Callable[[str], None] = print, amp: Optional[str] = None,
                  compile_backend: Optional[str] = None) -> dict:
    """Each variant against ``plain``: forward and training forward+backward seconds as
    ``rounds`` pairs (plain, variant); peak training-step bytes ``memory_runs`` times per
    variant (0: not measured; on CPU each in a fresh process); parameters; FLOPs per image at
    ``flops_size`` (None: not counted). ``amp``: under autocast to that dtype;
    ``compile_backend``: compiled (the warm-up rounds then include compilation, so give at
    least one)."""
    variants = [BASELINE] + [v for v in variants if v != BASELINE]
    tag = f'{model} {batch}x3x{size[0]}x{size[1]}'
    log(f'[benchmark] {tag}: building {len(variants)} variants')
    nets = {v: build(model, v, device, compile_backend=compile_backend) for v in variants}
    result = dict(model=model, device=device, size=list(size), batch=batch, rounds=rounds,
                  memory_runs=memory_runs, flops_size=list(flops_size) if flops_size else None,
                  amp=amp, compile=compile_backend,
                  variants={v: dict(params=parameter_count(net)['']) for v, net in nets.items()})
    if flops_size:
        log(f'[benchmark] {tag}: counting FLOPs at 1x3x{flops_size[0]}x{flops_size[1]}')
        for v, net in nets.items():
            result['variants'][v]['flops'] = count_flops(model, net, flops_size)

    fns = {v: workloads(model, net, size, batch, device, amp) for v, net in nets.items()}
    pairs = {(v, m): (fns[BASELINE][i], fns[v][i])
             for v in variants[1:] for i, m in enumerate(MEASURES)}
    log(f'[benchmark] {tag}: {warmup} warm-up + {rounds} paired rounds of '
        f'{len(variants) - 1} variant(s) against plain')
    times = paired_times(pairs, rounds, warmup, device, _progress(log, tag, 'round', rounds))
    for (v, m), pair_list in times.items():
        result['variants'][v][m] = pair_list
    del nets, fns, pairs
    if not memory_runs:
        return result

    log(f'[benchmark] {tag}: peak memory of a training step, {memory_runs} run(s) per variant')
    peaks = step_peaks(model, variants, size, batch, device, memory_runs,
                                     _progress(log, tag, 'memory run', memory_runs), amp,
                                     compile_backend)
    for v, values in peaks.items():
        result['variants'][v]['peak_bytes'] = values
    return result


def _progress(log: Callable[[str], None], tag: str, what: str,
              total: int) -> Callable[[int], None]:
    start = time.perf_counter()

    def report(i: int) -> None:
        log(f'[benchmark] {tag}: {what} {i + 1}/{total} done, '
            f'{time.perf_counter() - start:.0f} s')

    return report


def baseline_seconds(result: dict, measure: str) -> List[float]:
    """Every timing of ``plain`` for ``measure``, from all its pairs."""
    return [base for v, r in result['variants'].items() if v != BASELINE
            for base, _ in r.get(measure, [])]
