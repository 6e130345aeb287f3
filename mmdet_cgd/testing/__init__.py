"""The synthetic COCO dataset of shapes (images, boxes, masks) that the CPU demo trains on and
the tests use, as mmdet keeps its test-data helpers in ``mmdet.testing``."""
from .synthetic_coco import (
    CLASSES,
    SyntheticSpec,
    data_root_options,
    generate_split,
    write_dataset,
)

__all__ = ['CLASSES', 'SyntheticSpec', 'data_root_options', 'generate_split', 'write_dataset']
