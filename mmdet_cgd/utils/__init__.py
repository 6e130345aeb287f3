from .checkpoint import (
                         CheckpointError,
                         allow_mmengine_checkpoints,
                         check_resumable,
                         find_resume_checkpoint,
                         load_checkpoint_file,
                         resolve_checkpoint,
                         trust_checkpoints_in_this_process,
                         write_atomically,
)
from .state_dict_fit import CheckpointMismatchError, check_fit, select_weights, unwrap_state_dict

__all__ = ['CheckpointError', 'CheckpointMismatchError', 'allow_mmengine_checkpoints',
           'check_fit',
           'check_resumable', 'find_resume_checkpoint', 'load_checkpoint_file',
           'resolve_checkpoint', 'select_weights', 'trust_checkpoints_in_this_process',
           'unwrap_state_dict', 'write_atomically']
