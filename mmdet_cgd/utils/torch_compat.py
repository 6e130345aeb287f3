"""What differs between the torch releases we support (2.1 to the newest we test)."""
import torch


def is_compiling() -> bool:
    """Whether ``torch.compile`` is tracing the caller (``torch.compiler.is_compiling`` from
    torch 2.3; ``torch._dynamo.is_compiling`` before)."""
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_compiling'):
        return compiler.is_compiling()
    return torch._dynamo.is_compiling()
