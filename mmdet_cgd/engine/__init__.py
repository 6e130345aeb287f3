from .atomic_local_backend import AtomicLocalBackend, use_atomic_local_writes, write_atomically
from .cpu_distributed import prepare_cpu_distributed
from .reproducible_loop import ReproducibleIterBasedTrainLoop
from .resume import find_resume_checkpoint

__all__ = ['AtomicLocalBackend', 'ReproducibleIterBasedTrainLoop', 'find_resume_checkpoint',
           'prepare_cpu_distributed', 'use_atomic_local_writes', 'write_atomically']
