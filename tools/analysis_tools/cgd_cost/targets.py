"""The cost targets of CGD in the paper's placement, and their verdicts from measured ratios."""
from typing import Dict, List, Optional, Sequence

from .layer import BACKWARD, BACKWARD_ALLOCATING, FORWARD, FORWARD_ALLOCATING
from .stats import median_interval, verdict
from .suite import BASELINE
from .timing import ratios

PAPER = 'CGD paper (before_norm1)'
# (label, measure key in a model result, goal: at most this ratio to plain)
MODEL_GOALS = (('forward', 'forward', 1.02), ('forward + backward', 'forward_backward', 1.04),
               ('training-step peak memory', 'peak_bytes', 1.05))
LAYER_GOALS = tuple((f'layer alone: {name}', name, 1.5)
                    for name in (FORWARD, BACKWARD, FORWARD_ALLOCATING, BACKWARD_ALLOCATING))


def layer_workload(shape: Sequence[int], processes: int, rounds: int) -> str:
    return (f'CGD({shape[1]}), input {tuple(shape)}, {processes} processes x {rounds} rounds, '
            'x its bound')


def ratio_samples(result: dict, variant: str, measure: str) -> List[float]:
    """Per round (timings) or per run (memory): ``variant`` over ``plain``."""
    rows = result['variants']
    if measure == 'peak_bytes':
        return [v / p for v, p in zip(rows[variant][measure], rows[BASELINE][measure])]
    return ratios(rows[variant][measure])


def target_rows(model_results: Sequence[dict], layer_ratios: Optional[Dict[str, List[float]]],
                layer_workload: str, confidence: float) -> List[dict]:
    """One row per target and workload that measured it: the interval and its verdict."""
    rows = []
    for result in model_results:
        if result['model'] != 'backbone' or PAPER not in result['variants']:
            continue
        h, w = result['size']
        for label, measure, goal in MODEL_GOALS:
            if measure == 'peak_bytes' and not result['memory_runs']:
                continue  # not measured at this size
            count = result['memory_runs'] if measure == 'peak_bytes' else result['rounds']
            unit = 'processes' if measure == 'peak_bytes' else 'paired rounds'
            iv = median_interval(ratio_samples(result, PAPER, measure), confidence)
            rows.append(dict(target=label, goal=goal, interval=iv,
                             workload=f"ResNet-50, {result['batch']}x3x{h}x{w}, {count} {unit}",
                             verdict=verdict(iv, goal, confidence)))
    if layer_ratios:
        for label, key, goal in LAYER_GOALS:
            iv = median_interval(layer_ratios[key], confidence)
            rows.append(dict(target=label, goal=goal, interval=iv, workload=layer_workload,
                             verdict=verdict(iv, goal, confidence)))
    return rows
