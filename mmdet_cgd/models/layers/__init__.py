from .cgd import CGD

__all__ = ['CGD']
