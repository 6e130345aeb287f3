from .atomic_write import write_atomically
from .config_walk import config_dicts
from .errors import CGDConfigError, NonFiniteError

__all__ = ['CGDConfigError', 'NonFiniteError', 'config_dicts', 'write_atomically']
