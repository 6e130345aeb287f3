"""Data generators for tests, the CPU demo and measurements: a small synthetic COCO dataset
(images, boxes, masks), an annotation file the size of COCO train2017, and CGD's explicit
equations as an independent reference."""
from .coco_sized_annotations import COCO_TRAIN_IMAGES, write_coco_sized_annotations
from .explicit_cgd import explicit_cgd
from .synthetic_coco import (
    CLASSES,
    SyntheticSpec,
    data_root_options,
    generate_split,
    write_dataset,
)

__all__ = ['CLASSES', 'COCO_TRAIN_IMAGES', 'SyntheticSpec', 'data_root_options', 'explicit_cgd',
           'generate_split', 'write_coco_sized_annotations', 'write_dataset']
