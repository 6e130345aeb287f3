"""The boxes of a COCO file that mmdet's ``CocoDataset`` does not load, and why.

mmdet drops a box without a word when it is marked ``ignore``, has no area inside its image
(a NaN coordinate counts as none), is under 1 pixel wide or high, or has a category outside the
dataset's classes; and every box of an image that ``filter_cfg`` or ``indices`` leaves out.
How many the file holds, mmdet's own index tells (``cat_img_map``: an image id per box). Saying
which were dropped, and why, takes a second parse of the file: done only when some were, and up to
``PARSE_LIMIT_BYTES`` (a COCO-train file, 300 MB, took 35 s and 2.5 GB here); above, they are
counted.
"""
import json
import math
import os
from collections import defaultdict
from typing import Dict, List, NamedTuple, Optional

from mmengine.fileio import get_local_path

NOT_FINITE = 'not finite'
PARSE_LIMIT_BYTES = 64 << 20


class DroppedBoxes(NamedTuple):
    """``in_file``: the file's boxes; ``by_reason``: for each reason, the dropped boxes as
    ``(image_id, bbox)``, or None when the file is too large to parse again to name them."""
    in_file: int
    by_reason: Optional[Dict[str, List[tuple]]]


def drop_reason(ann: dict, image: Optional[dict], left_out: Optional[str],
                cat_ids) -> Optional[str]:
    """Why ``CocoDataset.parse_data_info`` (mmdet 3.3) skips ``ann``, by its rules and in its
    order (NaN compares false there, as here); None if it loads it. ``left_out``: why its
    image was not loaded, if it was not."""
    if image is None:
        return "its image_id is not among the file's images"
    if left_out:
        return f'its image was left out ({left_out})'
    if ann.get('ignore', False):
        return 'marked ignore'
    try:
        x1, y1, w, h = (float(v) for v in ann.get('bbox'))
    except (TypeError, ValueError):
        return NOT_FINITE
    finite = all(math.isfinite(v) for v in (x1, y1, w, h))
    inter_w = max(0, min(x1 + w, image['width']) - max(x1, 0))
    inter_h = max(0, min(y1 + h, image['height']) - max(y1, 0))
    if inter_w * inter_h == 0:
        return 'no area inside its image' if finite else NOT_FINITE
    if ann.get('area', 1) <= 0 or w < 1 or h < 1:
        return 'under 1 pixel wide or high, or area <= 0' if finite else NOT_FINITE
    if ann.get('category_id') not in cat_ids:
        return f"category {ann.get('category_id')} not among the dataset's classes"
    return None  # loaded (an infinite width or height too: the loaded-box check names it)


def left_out_by(dataset, image: dict, with_box: set) -> str:
    """Why ``dataset`` did not load ``image``: its ``filter_cfg`` (mmdet's ``filter_data``:
    no box of its classes, or smaller than ``min_size``), else its ``indices``."""
    filter_cfg = dataset.filter_cfg or {}
    if not dataset.test_mode and (
            (filter_cfg.get('filter_empty_gt') and image['id'] not in with_box)
            or min(image['width'], image['height']) < filter_cfg.get('min_size', 0)):
        return 'filter_cfg'
    return f'indices={dataset._indices!r}'


def dropped_boxes(dataset, loaded_boxes: int, loaded_image_ids,
                  parse_limit: int = PARSE_LIMIT_BYTES) -> Optional[DroppedBoxes]:
    """The boxes of ``dataset``'s COCO file that it did not load; None when it loaded every one
    or is not a COCO dataset (no ``cat_img_map``)."""
    in_file = sum(map(len, getattr(dataset, 'cat_img_map', {}).values()))
    if in_file <= loaded_boxes:
        return None
    with get_local_path(dataset.ann_file,
                        backend_args=getattr(dataset, 'backend_args', None)) as path:
        if os.path.getsize(path) > parse_limit:
            return DroppedBoxes(in_file, None)
        with open(path) as f:
            coco = json.load(f)  # json reads NaN and Infinity, as pycocotools does
    annotations, cat_ids = coco.get('annotations', []), set(dataset.cat_ids)
    images = {img['id']: img for img in coco.get('images', [])}
    with_box = {a.get('image_id') for a in annotations if a.get('category_id') in cat_ids}
    loaded_image_ids = set(loaded_image_ids)
    dropped = defaultdict(list)
    for ann in annotations:
        image = images.get(ann.get('image_id'))
        left_out = (None if image is None or image['id'] in loaded_image_ids
                    else left_out_by(dataset, image, with_box))
        reason = drop_reason(ann, image, left_out, cat_ids)
        if reason is not None:
            dropped[reason].append((ann.get('image_id'), ann.get('bbox')))
    return DroppedBoxes(len(annotations), dict(dropped))
