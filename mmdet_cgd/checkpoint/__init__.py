"""Checkpoint files: reading them safely (``loading``, ``safe_globals``), writing them whole
(``writing``), whether their weights fit a model (``fit``) and which one a run resumes from
(``resume``), whether their bytes are intact (``verify``) and their plugins placed as
the model's (``placement``). The converter of the authors' ImageNet checkpoints is a script,
``tools/model_converters/convert_imagenet_checkpoint.py``, as mmdet keeps its converters."""
from .fit import CheckpointMismatchError, check_fit, select_weights, unwrap_state_dict
from .loading import (
    CheckpointError,
    load_checkpoint_file,
    resolve_checkpoint,
    trust_checkpoints_in_this_process,
    trust_requested,
)
from .placement import check_placement, model_backbone_plugins
from .resume import check_resumable, find_resume_checkpoint
from .safe_globals import LogBuffer, allow_mmengine_checkpoints
from .verify import CheckpointCorruptError, verify_checkpoint_file
from .writing import save_checkpoint_file

__all__ = [
    'CheckpointCorruptError', 'CheckpointError', 'CheckpointMismatchError',
    'LogBuffer', 'allow_mmengine_checkpoints', 'check_fit', 'check_placement', 'check_resumable',
    'find_resume_checkpoint', 'load_checkpoint_file',
    'model_backbone_plugins', 'resolve_checkpoint', 'save_checkpoint_file',
    'select_weights', 'trust_checkpoints_in_this_process', 'trust_requested', 'unwrap_state_dict',
    'verify_checkpoint_file'
]
