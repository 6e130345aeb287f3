from .coco_checks import check_coco_file, check_dataloader_data
from .config_checks import check_backbone_plugins
from .safe_checkpoint import CheckpointError, allow_mmengine_checkpoints, load_checkpoint_file

__all__ = ['CheckpointError', 'allow_mmengine_checkpoints', 'check_backbone_plugins',
           'check_coco_file', 'check_dataloader_data', 'load_checkpoint_file']
