"""``cgd``: the one entry to CGD's implementations, and the choice between them.

The Triton path (``cgd_triton``) where it applies to the tensor and the backend allows it,
the PyTorch path (``cgd_pytorch``) everywhere else; the ``autograd.Function`` of either where
autograd records, its inference otherwise. The backend is the layer's ``backend`` option, or
``'pytorch'`` wherever the environment variable ``MMDET_CGD_BACKEND`` says so (read at every
call where the Triton path applies: a user switches back to PyTorch without editing code or
re-importing; elsewhere there is nothing to switch, and dynamo in torch 2.1 cannot trace
``os.environ``).
"""
import os

import torch
from torch import Tensor

from mmdet_cgd.utils.errors import CGDConfigError
from mmdet_cgd.utils.torch_compat import is_compiling

from . import cgd_pytorch, cgd_triton

BACKENDS = ('auto', 'pytorch')
BACKEND_VARIABLE = 'MMDET_CGD_BACKEND'


def checked_backend(backend, where: str) -> str:
    """``backend`` if it is one of ``BACKENDS``; else a ``CGDConfigError`` naming ``where``."""
    if backend not in BACKENDS:
        raise CGDConfigError(f'{where} must be one of {", ".join(map(repr, BACKENDS))}, got '
                             f'{backend!r}')
    return backend


def triton_allowed(backend: str) -> bool:
    """Whether the layer's ``backend`` and ``MMDET_CGD_BACKEND`` (an empty one is unset) both
    leave the choice to ``auto``."""
    variable = os.environ.get(BACKEND_VARIABLE) or 'auto'
    checked_backend(variable, f'the environment variable {BACKEND_VARIABLE}')
    return backend == variable == 'auto'


def cgd(x: Tensor, inplace: bool, *params: Tensor, backend: str = 'auto') -> Tensor:
    """CGD(x) in eager mode, ``params`` as ``(w0, w1, w2, bias0, bias1, bias2)``, in place
    under ``inplace``.

    Never in place under torch.compile, which plans its own buffers: scaling a compiled
    graph's input in place through the Function gave wrong input gradients there (torch 2.14,
    ``tests/test_ops/test_cgd_pytorch.py``)."""
    inplace = inplace and not is_compiling()
    # the option first: 'pytorch' spares Triton's one-time probe of the device
    triton = backend == 'auto' and cgd_triton.applies(x) and triton_allowed(backend)
    path = cgd_triton if triton else cgd_pytorch
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        function = cgd_triton.TritonCGDFunction if path is cgd_triton else cgd_pytorch.CGDFunction
        return function.apply(x, inplace, *params)
    return path.cgd_inference(x, inplace, *params)
