"""Predictions of one or more detectors on the same images, drawn with mmdet's visualizer."""
from typing import Dict, Sequence

import cv2
import numpy as np
import torch
from mmdet.apis import inference_detector
from mmdet.registry import VISUALIZERS

from .tiles import labelled_grid, put_text


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
