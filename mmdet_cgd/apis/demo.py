"""The CPU demo's steps: run our train/test tools on the synthetic data and collect the metrics."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

REPO = Path(__file__).resolve().parents[2]
METRIC_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'segm_mAP',
               'segm_mAP_50', 'segm_mAP_75')


def data_root_options(data_root) -> List[str]:
    """``--cfg-options`` values that point a synthetic-data config at ``data_root``."""
    root = f'{Path(data_root).resolve()}/'
    ann_val = f'{root}annotations/instances_val.json'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={ann_val}',
            f'test_evaluator.ann_file={ann_val}']


def run_tool(script: str, *args, options: Sequence[str] = ()) -> float:
    """Run ``tools/<script>`` with this Python, output streamed; returns its wall time (s)."""
    cmd = [sys.executable, str(REPO / 'tools' / script), *map(str, args)]
    if options:
        cmd += ['--cfg-options', *options]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, env=dict(os.environ, PYTHONUNBUFFERED='1'))
    return time.perf_counter() - start


def read_test_metrics(work_dir) -> Dict[str, float]:
    """The metrics json mmengine's test loop writes under ``work_dir/<timestamp>/``."""
    files = sorted(Path(work_dir).glob('*/*.json'))
    if not files:
        raise FileNotFoundError(f'no metrics json under {work_dir}')
    return json.loads(files[-1].read_text())


def metrics_table(results: Dict[str, Dict]) -> str:
    """Markdown table: one row per model, COCO AP columns (0-100) and wall times."""
    head = '| model | ' + ' | '.join(k.replace('_mAP', ' AP') for k in METRIC_KEYS) + \
        ' | train+val time | test time |'
    lines = [head, '|' + '---|' * (len(METRIC_KEYS) + 3)]
    for name, r in results.items():
        aps = ' | '.join(f"{100 * r['metrics'][f'coco/{k}']:.1f}" for k in METRIC_KEYS)
        lines.append(f"| {name} | {aps} | {r['train_s'] / 60:.1f} min | {r['test_s']:.0f} s |")
    return '\n'.join(lines)
