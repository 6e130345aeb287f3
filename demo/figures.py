"""The demo's pictures beyond the heatmap: predictions of several detectors on the same images
(mmdet's visualizer), and training loss / validation AP curves from mmengine's
``vis_data/scalars.json`` logs."""
import json
from pathlib import Path
from typing import Dict, List, Sequence

import cv2
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mmdet.apis import inference_detector
from mmdet.registry import VISUALIZERS

from mmdet_cgd.visualization.tiles import labelled_grid, put_text


def prediction_grid(models: Dict[str, torch.nn.Module], images: Sequence[np.ndarray],
                    score_thr: float = 0.5, tile: int = 256) -> np.ndarray:
    """One row per model (named on its first tile), one ``tile`` x ``tile`` column per image
    (BGR): the boxes, masks and labels scored above ``score_thr``. A tile with none says so and
    gives its top score, so a short run's picture is not a row of bare images."""
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name='cgd_predictions'))
    rows = []
    for model in models.values():
        visualizer.dataset_meta = model.dataset_meta
        row = []
        for image in images:
            result = inference_detector(model, image)
            visualizer.add_datasample('prediction', image[..., ::-1], data_sample=result,
                                      draw_gt=False, pred_score_thr=score_thr, show=False)
            cell = cv2.resize(visualizer.get_image()[..., ::-1], (tile, tile))
            scores = result.pred_instances.scores
            if not (scores > score_thr).any():
                top = f'top {scores.max():.2f}' if len(scores) else 'no boxes'
                put_text(cell, f'none > {score_thr:.2f} ({top})', bottom=True)
            row.append(cell)
        rows.append(row)
    return labelled_grid(rows, list(models))


def read_scalars(work_dir) -> List[dict]:
    """All records of a work dir, in time order (a resumed run adds a timestamped folder)."""
    files = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}: expected the work '
                                'dir of a run with LocalVisBackend (mmdet default_runtime)')
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line]


def curve_points(records: List[dict]):
    """``(train, val)``: (iteration, loss) pairs and (iteration, record) pairs. A val record's
    ``step`` is its iteration only if the LoggerHook had ``log_metric_by_epoch=False``; else it is
    the epoch (0 in an iteration-based run), behind the loss records: refused, not misdrawn."""
    train, val, last_iter = [], [], 1
    for r in records:
        if 'loss' in r:
            train.append((r['iter'], r['loss']))
            last_iter = r['iter']
        elif 'coco/bbox_mAP' in r:
            if r['step'] < last_iter:
                raise ValueError(
                    f"a validation record has 'step': {r['step']}, expected an iteration >= "
                    f'{last_iter}: it gives the epoch; expected a run logged with '
                    'default_hooks.logger.log_metric_by_epoch=False')
            val.append((r['step'], r))
    return train, val


def plot_training_curves(runs: Dict[str, str], out_path) -> None:
    """``runs`` maps a label to a work dir; writes loss (left) and val AP (right) to a PNG."""
    fig = Figure(figsize=(11, 4))  # no pyplot: no global backend to select
    ax_loss, ax_ap = fig.subplots(1, 2, sharex=True)
    for label, work_dir in runs.items():
        train, val = curve_points(read_scalars(work_dir))
        ax_loss.plot(*zip(*train), '.-', label=label)
        for key, style in (('coco/bbox_mAP', '-o'), ('coco/segm_mAP', '--s')):
            points = [(it, r[key]) for it, r in val if key in r]
            if points:
                ax_ap.plot(*zip(*points), style, label=f'{label} {key.split("/")[1]}')
    ax_loss.set(title='training loss', xlabel='iteration', ylabel='loss', yscale='log')
    ax_ap.set(title='validation AP (0.5:0.95)', xlabel='iteration', ylabel='AP', ylim=(0, 1))
    for ax in (ax_loss, ax_ap):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no iteration 1.5 in short runs
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
