from .cgd import CGD
from .cgd_function import CGDFunction, attention_terms
from .config_error import CGDConfigError

__all__ = ['CGD', 'CGDConfigError', 'CGDFunction', 'attention_terms']
