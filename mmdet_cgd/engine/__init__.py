"""Runner extensions our configs select: hooks, a train loop and an atomic file backend."""
from .atomic_local_backend import AtomicLocalBackend
from .hooks import (
    AnnotationCheckHook,
    CheckpointCheckHook,
    FiniteTrainingHook,
    MainProcessLoggerHook,
    WeightsOnlyCheckpointHook,
)
from .reproducible_loop import PerIterationSeedHook, ReproducibleIterBasedTrainLoop

__all__ = ['AnnotationCheckHook', 'AtomicLocalBackend', 'CheckpointCheckHook', 'FiniteTrainingHook',
           'MainProcessLoggerHook', 'PerIterationSeedHook', 'ReproducibleIterBasedTrainLoop',
           'WeightsOnlyCheckpointHook']
