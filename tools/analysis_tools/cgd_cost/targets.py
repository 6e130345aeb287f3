"""The cost targets of CGD in the paper's placement, and their verdicts from measured ratios."""
from typing import List, Sequence

from .stats import median_interval, verdict
from .suite import BASELINE
from .timing import ratios

PAPER = 'CGD paper (before_norm1)'
# (label, measure key in a model result, goal: at most this ratio to plain), per device type and
# model: the CPU goals of issue #29, the GPU goals of issue #30
GOALS = {
    ('cpu', 'backbone'): (('forward', 'forward', 1.05), ('training step', 'forward_backward', 1.08),
                          ('training-step peak memory', 'peak_bytes', 1.05)),
    ('cuda', 'backbone'): (('training step', 'forward_backward', 1.03), ),
    ('cuda', 'mask_rcnn'): (('training iteration', 'forward_backward', 1.03),
                            ('training-step peak memory', 'peak_bytes', 1.02)),
}


def goals_of(result: dict) -> Sequence[tuple]:
    """The goals for ``result``'s model on its device type (none for other pairs)."""
    device = result.get('device', 'cpu').split(':')[0]
    return GOALS.get((device, result['model']), ())


def ratio_samples(result: dict, variant: str, measure: str) -> List[float]:
    """Per round (timings) or per run (memory): ``variant`` over ``plain``."""
    rows = result['variants']
    if measure == 'peak_bytes':
        return [v / p for v, p in zip(rows[variant][measure], rows[BASELINE][measure])]
    return ratios(rows[variant][measure])


def target_rows(model_results: Sequence[dict], confidence: float) -> List[dict]:
    """One row per target and workload that measured it: the interval and its verdict."""
    rows = []
    for result in model_results:
        if PAPER not in result['variants']:
            continue
        h, w = result['size']
        name = 'ResNet-50' if result['model'] == 'backbone' else result['model']
        for label, measure, goal in goals_of(result):
            if measure == 'peak_bytes' and not result['memory_runs']:
                continue  # not measured at this size
            count = result['memory_runs'] if measure == 'peak_bytes' else result['rounds']
            unit = 'processes' if measure == 'peak_bytes' else 'paired rounds'
            amp = f", {result['amp']}" if result.get('amp') else ''
            iv = median_interval(ratio_samples(result, PAPER, measure), confidence)
            rows.append(dict(target=label, goal=goal, interval=iv,
                             workload=f"{name}, {result['batch']}x3x{h}x{w}{amp}, {count} {unit}",
                             verdict=verdict(iv, goal, confidence)))
    return rows
