"""What the pictures share: equal tiles in a grid, each row named on its first tile."""
from typing import List, Sequence

import cv2
import numpy as np


def put_text(tile: np.ndarray, text: str, bottom: bool = False) -> None:
    """White text outlined in black (readable on any image), top-left or bottom-left."""
    org = (6, tile.shape[0] - 10 if bottom else 22)
    for color, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(tile, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.55, color, thickness,
                    cv2.LINE_AA)


def labelled_grid(rows: List[List[np.ndarray]], labels: Sequence[str]) -> np.ndarray:
    """Rows of equal tiles stacked into one image, ``labels[i]`` written on row i's first."""
    for row, label in zip(rows, labels):
        put_text(row[0], label)
    return np.vstack([np.hstack(row) for row in rows])


def save_image(path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f'could not write an image to {path!r}')
