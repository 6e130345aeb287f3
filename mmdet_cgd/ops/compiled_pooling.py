"""CGD's spatial sum and max in one read on CPU: ``torch.ops.mmdet_cgd.sum_max_hw``
(``csrc/sum_max_hw.cpp``, built by ``pip install --no-build-isolation``, loaded with
``torch.ops.load_library`` the first time CGD pools).

PyTorch has no op that gives both from one pass; ``sum`` then ``amax`` read the activation
twice, and on a CPU the second read costs nearly as much as the first (docs/cost.md has the
measurements). Where the op is not built, or does not load (built for another torch), CGD uses
the two PyTorch reductions, with one warning saying so: the same values up to float32 rounding
(where a float32 sum overflows, the op's double accumulation may stay finite), slower.
"""
import functools
import importlib.machinery
from pathlib import Path
from typing import Optional, Tuple
from warnings import warn

import torch

from mmdet_cgd.utils.torch_compat import is_compiling

DTYPES = (torch.float32, torch.float64)
# Below this many positions torch's two reductions are faster than a per-row loop.
MIN_POSITIONS = 16
LIBRARY_DIR = Path(__file__).resolve().parent


def library_name() -> str:
    """The op's library for the running torch, as ``setup.py`` names it: '_ext_torch2_14'."""
    major, minor = torch.__version__.split('.')[:2]
    return f'_ext_torch{major}_{minor}'


def library_path() -> Optional[Path]:
    """The op's shared library in this package's own directory, or None. Only there: an
    editable install's finder would otherwise hand a clone that shares the environment another
    checkout's build."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = LIBRARY_DIR / f'{library_name()}{suffix}'
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=None)
def compiled_sum_max():
    """The compiled op, or None (warned once) where it cannot be loaded."""
    path = library_path()
    try:
        if path is None:
            raise OSError(f'no {library_name()}*.so (built for torch {torch.__version__}) in '
                          f'{LIBRARY_DIR}')
        torch.ops.load_library(str(path))  # registers torch.ops.mmdet_cgd.sum_max_hw
        return torch.ops.mmdet_cgd.sum_max_hw
    except (OSError, RuntimeError) as error:
        warn(f'mmdet_cgd: the compiled CPU pooling op is not available ({error}); CGD pools '
             'with two PyTorch reductions instead (same values up to rounding, slower). Build '
             'it with `pip install --no-build-isolation -e .` (or without -e) in this '
             'environment.', stacklevel=2)
        return None


def sum_max_hw(x: torch.Tensor) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """Per (N, C): the sum and the max over H x W in x's dtype, from one read of ``x``; None
    where the op does not apply (not a contiguous float32/float64 CPU tensor with at least
    ``MIN_POSITIONS`` positions, under ``torch.compile``, or not built)."""
    if (x.device.type != 'cpu' or x.dtype not in DTYPES or not x.is_contiguous()
            or x.numel() == 0 or x.shape[2] * x.shape[3] < MIN_POSITIONS
            or is_compiling()):
        return None
    op = compiled_sum_max()
    return None if op is None else op(x)
