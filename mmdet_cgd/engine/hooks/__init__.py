from .annotation_check_hook import AnnotationCheckHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = ['AnnotationCheckHook', 'WeightsOnlyCheckpointHook']
