"""predictions.png's grid: one named row per model, and a word where nothing is drawn."""
import warnings

import cv2
import numpy as np
import pytest
import torch
from figures import prediction_grid
from mmdet.apis import init_detector
from tool_helpers import DEMO_CONFIG

TILE = 128


@pytest.fixture(scope='module')
def untrained_detector():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "checkpoint is None": random weights are the point
        # at most 2 detections an image: masks for 100 random ones take most of the time
        return init_detector(str(DEMO_CONFIG), None, device='cpu',
                             cfg_options={'model.test_cfg.rcnn.max_per_img': 2})


def image(seed):
    rng = np.random.default_rng(seed)
    img = np.full((TILE, TILE, 3), 90, np.uint8)
    cv2.circle(img, (64, 64), 30, tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    return img


def changed_rows(tile, original):
    return np.flatnonzero((tile != original).any(axis=(1, 2)))


def test_rows_are_named_and_an_empty_tile_says_so(untrained_detector):
    images = [image(0), image(1)]
    models = {'baseline': untrained_detector, 'CGD': untrained_detector}
    grid = prediction_grid(models, images, score_thr=1.0, tile=TILE)  # no score can pass 1.0
    assert grid.shape == (2 * TILE, 2 * TILE, 3)
    for row in range(2):
        first = changed_rows(grid[row * TILE:(row + 1) * TILE, :TILE], images[0])
        second = changed_rows(grid[row * TILE:(row + 1) * TILE, TILE:], images[1])
        # the row's name at the top of its first tile, the note at the bottom of every tile
        assert first.min() < 25 and not set(range(30, 100)) & set(first) and first.max() > 110
        assert second.min() > 100
    # the rows carry different names
    assert (grid[:25, :TILE] != grid[TILE:TILE + 25, :TILE]).any()
