"""Runner extensions our configs select: hooks and an atomic file backend."""
from .atomic_local_backend import AtomicLocalBackend
from .hooks import (
    CheckpointCheckHook,
    FiniteTrainingHook,
    MainProcessLoggerHook,
    PerIterationSeedHook,
    WeightsOnlyCheckpointHook,
)

__all__ = ['AtomicLocalBackend', 'CheckpointCheckHook', 'FiniteTrainingHook',
           'MainProcessLoggerHook', 'PerIterationSeedHook', 'WeightsOnlyCheckpointHook']
