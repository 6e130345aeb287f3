from .coco_checks import check_coco_file, check_dataloader_data
from .coco_sized_annotations import COCO_TRAIN_IMAGES, write_coco_sized_annotations
from .json_keys import JsonStructureError, TopLevel, top_level
from .loaded_annotation_checks import check_loaded_annotations, leaf_datasets
from .synthetic_coco import (
                             CLASSES,
                             SyntheticSpec,
                             data_root_options,
                             generate_split,
                             validate_coco,
                             write_dataset,
)

__all__ = [
    'CLASSES', 'COCO_TRAIN_IMAGES', 'JsonStructureError', 'SyntheticSpec', 'TopLevel',
    'check_coco_file', 'check_dataloader_data', 'data_root_options',
    'check_loaded_annotations', 'generate_split', 'leaf_datasets', 'top_level', 'validate_coco',
    'write_coco_sized_annotations', 'write_dataset'
]
