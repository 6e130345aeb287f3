"""Checks of the annotations a detection dataset has already loaded (its ``data_list``).

Run where mmdet has parsed the annotation file anyway: every box finite and inside its image,
the dataset not empty, and a bounded, evenly spread sample of image files present (the rest are
opened, with their path in the error, when the pipeline reads them), some class of the dataset
among the file's categories. The boxes of a COCO file that mmdet dropped are counted and named
(``dropped_boxes``; named for files up to 64 MB).
"""
import math
from typing import Iterator, List

import numpy as np
from mmengine.fileio import exists

from mmdet_cgd.utils.errors import AnnotationError

from .coco_file import shown
from .dropped_boxes import NOT_FINITE, DroppedBoxes, dropped_boxes

MAX_LISTED = 10  # problems listed in one message; the rest are counted


def leaf_datasets(dataset) -> List:
    """The datasets inside wrappers (Repeat/ClassBalanced/MultiImageMix, Concat), or itself."""
    if hasattr(dataset, 'datasets'):
        return [leaf for inner in dataset.datasets for leaf in leaf_datasets(inner)]
    if hasattr(dataset, 'dataset'):
        return leaf_datasets(dataset.dataset)
    return [dataset]


def _data_infos(dataset) -> Iterator[dict]:
    """Each image's info without copying: ``get_data_info`` deep-copies unserialized lists."""
    if dataset.serialize_data:
        return (dataset.get_data_info(i) for i in range(len(dataset)))
    return iter(dataset.data_list)


def _xywh(bbox) -> str:
    """A loaded x1, y1, x2, y2 box written back as the COCO x, y, w, h of the file."""
    x1, y1, x2, y2 = bbox
    return '[' + ', '.join(f'{v:g}' for v in (x1, y1, x2 - x1, y2 - y1)) + ']'


def box_inside_image(x1, y1, x2, y2, width, height, tolerance: float = 0.0) -> bool:
    """Whether box (x1, y1, x2, y2) lies inside a ``width`` x ``height`` image, allowing
    ``tolerance`` pixels past each edge."""
    return (x1 >= -tolerance and y1 >= -tolerance and x2 <= width + tolerance
            and y2 <= height + tolerance)


def sample_indices(count: int, size: int) -> List[int]:
    """``size`` indices spread evenly over ``range(count)``, first and last included."""
    return sorted(set(np.linspace(0, count - 1, min(size, count)).round().astype(int).tolist()))


def _listed(items: List[str]) -> str:
    more = len(items) - MAX_LISTED
    return '; '.join(items[:MAX_LISTED]) + (f' (and {more} more)' if more > 0 else '')


def describe_dropped(dropped: DroppedBoxes, loaded: int) -> str:
    """'mmdet dropped 2 of the file's 6 boxes: 1 under 1 pixel ... (image 3: bbox [..]), ...'."""
    said = f"mmdet dropped {dropped.in_file - loaded} of the file's {dropped.in_file} boxes"
    if dropped.by_reason is None:
        return said + ' (a file this large is not parsed a second time to say which)'
    parts = []
    for reason, boxes in sorted(dropped.by_reason.items(), key=lambda kv: -len(kv[1])):
        listed = ', '.join(f'image {image}: bbox {bbox}' for image, bbox in boxes[:3])
        parts.append(f'{len(boxes)} {reason} ({listed}{", ..." if len(boxes) > 3 else ""})')
    return f'{said}: ' + '; '.join(parts)


def check_loaded_annotations(dataset, image_sample: int = 64, box_tolerance: float = 1.0) -> str:
    """Raise ``AnnotationError`` (a ``ValueError``) naming the file and image of each box that is
    not finite (loaded or dropped by mmdet) or outside its image (by more than ``box_tolerance``
    pixels) and of each missing sampled image file; return a summary that counts and names the
    boxes mmdet dropped.

    ``dataset`` is a loaded mmdet detection dataset (``CocoDataset`` and kin): its infos carry
    ``width``, ``height``, ``img_path`` and ``instances`` with x1, y1, x2, y2 ``bbox``."""
    dataset.full_init()
    where = f'{dataset.ann_file!r} (images in {dataset.data_prefix.get("img", "")!r})'
    if hasattr(dataset, 'cat_ids') and not dataset.cat_ids:
        classes = dataset.metainfo.get('classes') or ()
        raise AnnotationError(
            f"{where}: none of the dataset's {len(classes)} classes {shown(classes)} is a "
            'category of the file, so mmdet loads none of its boxes: give the dataset '
            "metainfo=dict(classes=...) with the file's category names (and the head their "
            'number as num_classes)')
    if len(dataset) == 0:
        raise AnnotationError(f'{where}: no images left to load: expected at least one '
                              '(filter_cfg drops images without annotations and small ones from '
                              'training)')
    sampled = set(sample_indices(len(dataset), image_sample))
    problems, boxes, sampled_paths, image_ids = [], 0, [], []
    for index, info in enumerate(_data_infos(dataset)):
        image_ids.append(info['img_id'])
        if index in sampled:
            sampled_paths.append(info['img_path'])
        width, height = info['width'], info['height']
        for inst in info['instances']:
            boxes += 1
            if not all(math.isfinite(v) for v in inst['bbox']):
                problems.append(f"image {info['img_id']}: bbox {_xywh(inst['bbox'])} is "
                                f"{NOT_FINITE} ({info['img_path']})")
            elif not box_inside_image(*inst['bbox'], width, height, box_tolerance):
                problems.append(f"image {info['img_id']}: bbox {_xywh(inst['bbox'])} outside "
                                f"its {width}x{height} image {info['img_path']}")
    dropped = dropped_boxes(dataset, boxes, image_ids)
    problems += [f'image {image}: bbox {bbox} is {NOT_FINITE} (mmdet drops it silently)'
                 for image, bbox in ((dropped and dropped.by_reason) or {}).get(NOT_FINITE, [])]
    backend_args = getattr(dataset, 'backend_args', None)
    problems += [f'missing file {path}' for path in sampled_paths
                 if not exists(path, backend_args=backend_args)]
    if problems:
        raise AnnotationError(f'{where}: ' + _listed(problems))
    if dropped:
        summary = (f'{where}: {len(dataset)} images, all {boxes} loaded boxes inside their '
                   f'images; {describe_dropped(dropped, boxes)}')
    else:
        summary = f'{where}: {len(dataset)} images, all {boxes} boxes inside their images'
    return summary + f'; {len(sampled)} image files sampled, all present'
