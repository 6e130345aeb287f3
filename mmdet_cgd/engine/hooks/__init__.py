from .checkpoint_check_hook import CheckpointCheckHook
from .finite_training_hook import FiniteTrainingHook
from .main_process_logger_hook import MainProcessLoggerHook
from .per_iteration_seed_hook import PerIterationSeedHook
from .weights_only_checkpoint_hook import WeightsOnlyCheckpointHook

__all__ = ['CheckpointCheckHook', 'FiniteTrainingHook',
           'MainProcessLoggerHook', 'PerIterationSeedHook', 'WeightsOnlyCheckpointHook']
