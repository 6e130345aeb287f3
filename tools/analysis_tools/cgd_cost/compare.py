"""Do two runs of the cost study agree? Target by target, from their raw samples.

Two runs agree on a target when their intervals overlap: both can hold the same true median.
The stricter reading, each run's median inside the other's interval, is reported beside it.
"""
import json
from pathlib import Path
from typing import List

from .report import describe
from .targets import target_rows


def rows_of_run(path, confidence: float) -> List[dict]:
    """The target rows (intervals and verdicts) of a run's raw samples (its ``.json``)."""
    return target_rows(json.loads(Path(path).read_text())['models'], confidence)


def agreement_table(first, second, confidence: float = 0.95) -> str:
    """A markdown table of both runs' intervals per target and whether they agree."""
    a_rows, b_rows = rows_of_run(first, confidence), rows_of_run(second, confidence)
    a_keys = [(r['target'], r['workload']) for r in a_rows]
    b_keys = [(r['target'], r['workload']) for r in b_rows]
    if a_keys != b_keys:
        raise ValueError(f'the runs measured different targets: {first} has {a_keys}, '
                         f'{second} has {b_keys}')
    lines = ['| target | workload | run 1 | run 2 | intervals overlap | each median in the '
             'other interval |', '|---|---|---|---|---|---|']
    for a, b in zip(a_rows, b_rows):
        x, y = a['interval'], b['interval']
        overlap = x.low <= y.high and y.low <= x.high
        inside = x.low <= y.median <= x.high and y.low <= x.median <= y.high
        lines.append(f"| {a['target']} | {a['workload']} | {describe(x)} {a['verdict']} | "
                     f"{describe(y)} {b['verdict']} | {'yes' if overlap else '**no**'} | "
                     f"{'yes' if inside else 'no'} |")
    return '\n'.join(lines)

