from .atomic_write import write_atomically
from .config_walk import config_dicts
from .errors import CGDConfigError

__all__ = ['CGDConfigError', 'config_dicts', 'write_atomically']
