"""Checks of a config's COCO annotations: before the Runner, without reading them
(``coco_file``), and once mmdet has loaded them (``loaded_annotations``)."""
from .coco_file import check_coco_file, check_dataloader_data
from .loaded_annotations import check_loaded_annotations, leaf_datasets

__all__ = ['check_coco_file', 'check_dataloader_data', 'check_loaded_annotations',
           'leaf_datasets']
