from .synthetic_coco import CLASSES, SyntheticSpec, generate_split, validate_coco, write_dataset

__all__ = ['CLASSES', 'SyntheticSpec', 'generate_split', 'validate_coco', 'write_dataset']
