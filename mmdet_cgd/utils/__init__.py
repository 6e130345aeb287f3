from .atomic_write import write_atomically
from .config_walk import config_dicts, type_name, with_nearest
from .errors import AnnotationError, CGDConfigError, CheckpointError, NonFiniteError

__all__ = ['AnnotationError', 'CGDConfigError', 'CheckpointError', 'NonFiniteError',
           'config_dicts', 'type_name', 'with_nearest', 'write_atomically']
