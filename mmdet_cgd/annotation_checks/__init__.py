"""Checks of a config's COCO annotations: before the Runner, parse-free (``coco_file``, over the
``json_keys`` scanner), and once mmdet has loaded them (``loaded_annotations``)."""
from .coco_file import check_coco_file, check_dataloader_data
from .json_keys import JsonStructureError, TopLevel, top_level
from .loaded_annotations import box_inside_image, check_loaded_annotations, leaf_datasets

__all__ = ['JsonStructureError', 'TopLevel', 'box_inside_image', 'check_coco_file',
           'check_dataloader_data', 'check_loaded_annotations', 'leaf_datasets', 'top_level']
