"""CGD's operators, apart from the layer that uses them (as mmcv keeps ``mmcv/ops``).

``cgd`` (``dispatch``) takes one of two implementations of the equations in ``cgd_attention``:
the Triton kernels on CUDA with torch >= 2.6 (``cgd_triton``), PyTorch's operators everywhere
else (``cgd_pytorch``); ``inplace_safety`` checks that in-place scaling is safe."""
from .cgd_attention import (
    attention_backward,
    attention_dtype,
    attention_terms,
    packed_parameters,
    scale_by_attention,
)
from .cgd_pytorch import CGDFunction, cgd_inference
from .cgd_triton import TritonCGDFunction, triton_unavailable_reason
from .dispatch import BACKEND_VARIABLE, BACKENDS, cgd, checked_backend
from .inplace_safety import check_inplace_is_safe

__all__ = ['BACKENDS', 'BACKEND_VARIABLE', 'CGDFunction', 'TritonCGDFunction',
           'attention_backward', 'attention_dtype', 'attention_terms', 'cgd', 'cgd_inference',
           'check_inplace_is_safe', 'checked_backend', 'packed_parameters', 'scale_by_attention',
           'triton_unavailable_reason']
