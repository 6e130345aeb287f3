from .safe_checkpoint import CheckpointError, allow_mmengine_checkpoints, load_checkpoint_file

__all__ = ['CheckpointError', 'allow_mmengine_checkpoints', 'load_checkpoint_file']
