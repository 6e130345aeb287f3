"""CGD's operators, apart from the layer that uses them (as mmcv keeps ``mmcv/ops``): the fused
training Function, the attention equations and their derivative, the per-channel pooling with
its compiled CPU op (``csrc/``), the Triton kernels CUDA tensors take (``cgd_triton``), and the
check that in-place scaling is safe."""
from .cgd_attention import (
    attention_backward,
    attention_dtype,
    attention_terms,
    scale_by_attention,
)
from .cgd_function import CGDFunction, cgd
from .cgd_triton import triton_unavailable_reason
from .compiled_pooling import sum_max_hw
from .inplace_safety import check_inplace_is_safe
from .pooling import pool_hw

__all__ = ['CGDFunction', 'attention_backward', 'attention_dtype', 'attention_terms', 'cgd',
           'check_inplace_is_safe', 'pool_hw', 'scale_by_attention', 'sum_max_hw',
           'triton_unavailable_reason']
