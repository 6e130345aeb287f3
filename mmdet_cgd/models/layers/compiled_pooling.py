"""CGD's spatial sum and max in one read on CPU: ``torch.ops.mmdet_cgd.sum_max_hw``
(``csrc/sum_max_hw.cpp``, built by ``pip install --no-build-isolation``).

PyTorch has no op that gives both from one pass; ``sum`` then ``amax`` read the activation
twice, which held CGD's training forward at 1.41-1.51x of its memory-bandwidth bound on the
2-core CPU here, against 1.15-1.16x with this op (README, Cost). Where the op is not built, or
does not load (built for another torch), CGD uses the two PyTorch reductions, with one warning
saying so: same values (the sum may differ in its last bits), slower.
"""
import functools
import importlib
import warnings
from typing import Optional, Tuple

import torch

DTYPES = (torch.float32, torch.float64)


@functools.lru_cache(maxsize=None)
def compiled_sum_max():
    """The compiled op, or None (warned once) where it cannot be loaded."""
    try:
        importlib.import_module('mmdet_cgd._ext')
    except (ImportError, OSError) as error:
        warnings.warn(
            f'mmdet_cgd: the compiled CPU pooling op is not available ({error}); CGD pools with '
            'two PyTorch reductions instead (same results, slower). Build it with '
            '`pip install --no-build-isolation -e .` (or without -e) in this environment.',
            stacklevel=2)
        return None
    return torch.ops.mmdet_cgd.sum_max_hw


def sum_max_hw(x: torch.Tensor) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """Per (N, C): the sum and the max over H x W in x's dtype, from one read of ``x``; None
    where the op does not apply (not a contiguous float32/float64 CPU tensor with H x W > 0,
    under ``torch.compile``, or not built)."""
    if (x.device.type != 'cpu' or x.dtype not in DTYPES or not x.is_contiguous()
            or x.numel() == 0 or torch.compiler.is_compiling()):
        return None
    op = compiled_sum_max()
    return None if op is None else op(x)
