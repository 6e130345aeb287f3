"""Predictions drawn on images with mmdet's visualizer, tiled into one picture."""
from typing import Sequence

import cv2
import numpy as np
from mmdet.apis import inference_detector
from mmdet.registry import VISUALIZERS


def prediction_grid(model, images: Sequence[np.ndarray], score_thr: float = 0.5,
                    columns: int = 4) -> np.ndarray:
    """Each image (BGR) with the boxes, masks and labels ``model`` predicts above ``score_thr``."""
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name='cgd_predictions'))
    visualizer.dataset_meta = model.dataset_meta
    tiles = []
    for image in images:
        result = inference_detector(model, image)
        visualizer.add_datasample('prediction', image[..., ::-1], data_sample=result,
                                  draw_gt=False, pred_score_thr=score_thr, show=False)
        tiles.append(visualizer.get_image()[..., ::-1])
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def save_image(path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f'could not write an image to {path!r}')
