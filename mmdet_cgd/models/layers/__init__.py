from .cgd import CGD
from .cgd_function import CGDFunction, attention_terms

__all__ = ['CGD', 'CGDFunction', 'attention_terms']
