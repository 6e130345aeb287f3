"""A small, deterministic COCO-format instance-segmentation dataset a detector can learn on a CPU.

Coloured shapes of several classes, varied in size, colour and rotation, overlapping each other,
on textured backgrounds with unannotated clutter. Each class's hue leans to its own range.
Occlusion is exact: each object's mask is what remains visible after the objects drawn over it,
and its box and polygons come from that mask.
Same seed and sizes, same bytes: PNG images and a JSON written with sorted keys. The demo writes
it itself; alone:

    python demo/synthetic_coco.py data/synthetic [--num-train 400 --num-val 100 ...]
"""
import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from mmdet_cgd.utils import write_atomically

CLASSES = ('disk', 'square', 'triangle', 'star', 'cross')
MIN_VISIBLE = 0.4  # an occluder may hide at most 60% of what is under it
PLACEMENT_TRIES = 20


@dataclass
class SyntheticSpec:
    """Sizes of one split; every flag of the generator's command line is a field here."""
    num_images: int
    image_size: int = 256
    max_objects: int = 6
    min_size: int = 24
    max_size: int = 96
    seed: int = 0


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour gradient + stripes + noise: texture the detector must learn to ignore."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-60, 60, (2, 3))
    img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    angle, freq = rng.uniform(0, math.pi), rng.uniform(8, 30)
    stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * freq * math.pi)
    img += stripes[..., None] * rng.uniform(5, 25)
    img += rng.normal(0, rng.uniform(3, 12), img.shape)
    return img


def _class_colour(rng: np.random.Generator, cls: int) -> np.ndarray:
    """BGR colour whose hue leans to the class (neighbouring classes' ranges touch), with random
    saturation and brightness: a cue as in real data, where shape still has to settle it."""
    hue = (cls * 180 / len(CLASSES) + rng.uniform(-18, 18)) % 180  # OpenCV hue: 0..180
    hsv = np.uint8([[[hue, rng.uniform(110, 255), rng.uniform(90, 255)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)


def _shape_mask(rng: np.random.Generator, cls: str, size: int, canvas: int) -> np.ndarray:
    """A filled mask of one object of class ``cls``, about ``size`` pixels across."""
    mask = np.zeros((canvas, canvas), np.uint8)
    cx, cy = rng.uniform(size / 2, canvas - size / 2, 2)
    r, rot = size / 2, rng.uniform(0, 2 * math.pi)

    def polygon(radii, n):
        t = rot + np.arange(n) * 2 * math.pi / n
        pts = np.stack([cx + radii * np.cos(t), cy + radii * np.sin(t)], 1)
        return np.round(pts).astype(np.int32)

    if cls == 'disk':
        cv2.circle(mask, (round(cx), round(cy)), round(r), 1, -1)
    elif cls == 'cross':
        arm = r * 0.35
        for t in (rot, rot + math.pi / 2):
            dx, dy = math.cos(t), math.sin(t)
            corners = [(cx + sx * r * dx - sy * arm * dy, cy + sx * r * dy + sy * arm * dx)
                       for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            cv2.fillPoly(mask, [np.round(corners).astype(np.int32)], 1)
    elif cls == 'square':
        cv2.fillPoly(mask, [polygon(np.full(4, r * 1.2), 4)], 1)
    elif cls == 'triangle':
        cv2.fillPoly(mask, [polygon(np.full(3, r * 1.15), 3)], 1)
    elif cls == 'star':
        cv2.fillPoly(mask, [polygon(np.tile([r * 1.15, r * 0.5], 5), 10)], 1)
    return mask


def _has_hole(mask: np.ndarray) -> bool:
    """COCO polygons are unioned, so a mask with a hole has no faithful polygon form."""
    _, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0, :, 3] >= 0).any())


def _polygons(mask: np.ndarray) -> List[List[float]]:
    """COCO polygons (pixel-boundary outlines) of a binary mask, holes included as rings."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def generate_split(spec: SyntheticSpec, image_dir: Path, file_prefix: str) -> Dict:
    """Draw ``spec.num_images`` images into ``image_dir`` and return their COCO dict."""
    rng = np.random.default_rng(spec.seed)
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, spec.num_images + 1):
        size = spec.image_size
        img = _background(rng, size)
        for _ in range(rng.integers(3, 9)):  # clutter: thin unannotated strokes and dots
            p = rng.integers(0, size, 4)
            colour = rng.uniform(0, 255, 3).tolist()
            cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour,
                     int(rng.integers(1, 3)))
        objects = []
        for _ in range(rng.integers(1, spec.max_objects + 1)):
            cls = int(rng.integers(len(CLASSES)))
            obj_size = int(rng.integers(spec.min_size, min(spec.max_size, size) + 1))
            for _ in range(PLACEMENT_TRIES):
                full = _shape_mask(rng, CLASSES[cls], obj_size, size).astype(bool)
                # the new object hides what it covers; keep it only if what it covers stays
                # mostly visible and hole-free
                hidden = [o['visible'] & ~full for o in objects]
                if all(h.sum() >= MIN_VISIBLE * o['area'] and not _has_hole(h.astype(np.uint8))
                       for h, o in zip(hidden, objects)):
                    break
            else:
                continue
            for o, h in zip(objects, hidden):
                o['visible'] = h
            colour = _class_colour(rng, cls)
            shade = 1 + 0.25 * np.linspace(-1, 1, size, dtype=np.float32)[None, :, None]
            img = np.where(full[..., None], colour * shade, img)
            objects.append(dict(cls=cls, area=int(full.sum()), visible=full))
        file_name = f'{file_prefix}{image_id:06d}.png'
        cv2.imwrite(str(image_dir / file_name), np.clip(img, 0, 255).astype(np.uint8))
        images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
        for obj in objects:
            visible = obj['visible'].astype(np.uint8)
            area = int(visible.sum())
            polys = _polygons(visible)
            ys, xs = np.nonzero(visible)
            x0, y0 = int(xs.min()), int(ys.min())
            bbox = [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0]
            annotations.append(
                dict(id=len(annotations) + 1, image_id=image_id, category_id=obj['cls'] + 1,
                     bbox=bbox, area=area, segmentation=polys, iscrowd=0))
    categories = [dict(id=i + 1, name=n, supercategory='shape') for i, n in enumerate(CLASSES)]
    return dict(images=images, annotations=annotations, categories=categories)


def write_dataset(root: Path, train: SyntheticSpec, val: SyntheticSpec) -> Path:
    """Write ``root/{train,val}/*.png`` and ``root/annotations/instances_{train,val}.json``."""
    root = Path(root)
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    for split, spec in (('train', train), ('val', val)):
        coco = generate_split(spec, root / split, f'{split}_')
        path = root / 'annotations' / f'instances_{split}.json'
        # a reader never sees a half-written annotation file
        write_atomically(json.dumps(coco, sort_keys=True, separators=(',', ':')).encode(), path)
    return root


def data_root_options(data_root) -> List[str]:
    """``--cfg-options`` values that point a synthetic-data config at ``data_root``."""
    root = f'{Path(data_root).resolve()}/'
    ann_val = f'{root}annotations/instances_val.json'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={ann_val}',
            f'test_evaluator.ann_file={ann_val}']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='output folder')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--image-size', type=int, default=256)
    parser.add_argument('--max-objects', type=int, default=6)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    common = dict(image_size=args.image_size, max_objects=args.max_objects)
    start = time.perf_counter()
    root = write_dataset(args.root, SyntheticSpec(args.num_train, seed=args.seed, **common),
                         SyntheticSpec(args.num_val, seed=args.seed + 1, **common))
    print(f'wrote {args.num_train} train + {args.num_val} val images to {root} '
          f'in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
