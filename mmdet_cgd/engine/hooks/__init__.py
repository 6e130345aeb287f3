from .annotation_check_hook import AnnotationCheckHook
from .main_process_logger_hook import MainProcessLoggerHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = ['AnnotationCheckHook', 'MainProcessLoggerHook', 'WeightsOnlyCheckpointHook']
