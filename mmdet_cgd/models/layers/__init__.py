from .cgd import CGD, cgd_attention

__all__ = ['CGD', 'cgd_attention']
