"""Runner extensions our configs select: hooks, a train loop and an atomic file backend."""
from .atomic_local_backend import AtomicLocalBackend
from .hooks import (
    CheckpointCheckHook,
    FiniteTrainingHook,
    MainProcessLoggerHook,
    PerIterationSeedHook,
    WeightsOnlyCheckpointHook,
)
from .reproducible_loop import ReproducibleIterBasedTrainLoop

__all__ = ['AtomicLocalBackend', 'CheckpointCheckHook', 'FiniteTrainingHook',
           'MainProcessLoggerHook', 'PerIterationSeedHook', 'ReproducibleIterBasedTrainLoop',
           'WeightsOnlyCheckpointHook']
