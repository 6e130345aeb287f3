from .atomic_local_backend import AtomicLocalBackend, use_atomic_local_writes, write_atomically
from .cpu_distributed import prepare_cpu_distributed
from .reproducible_loop import ReproducibleIterBasedTrainLoop
from .resume import find_resume_checkpoint
from .tool_config import (build_runner, check_tool_config, exit_on_user_error, load_tool_config,
                          parse_tool_args)

__all__ = [
    'AtomicLocalBackend', 'ReproducibleIterBasedTrainLoop', 'build_runner', 'check_tool_config',
    'exit_on_user_error', 'find_resume_checkpoint', 'load_tool_config', 'parse_tool_args',
    'prepare_cpu_distributed', 'use_atomic_local_writes', 'write_atomically'
]
