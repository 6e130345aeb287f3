"""Checkpoints load with ``weights_only=True`` (torch >= 2.6): an allow-list, never unsafe loading.

mmengine 0.10.7 saves its message hub in checkpoints (``HistoryBuffer`` holding numpy arrays, a few
numpy scalars) and calls ``torch.load`` without ``weights_only``, so under torch >= 2.6 resume,
``load_from`` and test fail on its own checkpoints. ``allow_mmengine_checkpoints`` (run when
``mmdet_cgd`` is imported, e.g. by a config's ``custom_imports``) allows exactly those types.

``HistoryBuffer`` also pickles its default statistics methods, which take ``builtins.getattr``
to unpickle, a global that would let a hostile file reach far more. We pickle buffers without
them (``__setstate__`` restores the defaults), so ``getattr`` stays off the list.
"""
import copyreg
import os
import pickle
import zipfile
from typing import Any, Dict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_NUMPY_CORE = np._core if hasattr(np, '_core') else np.core  # numpy 2 / numpy 1


def _numpy_globals():
    reconstruct, scalar = _NUMPY_CORE.multiarray._reconstruct, _NUMPY_CORE.multiarray.scalar
    allowed = [np.ndarray, np.dtype, reconstruct, scalar,
               # the same functions as numpy 1 named them, for checkpoints it saved
               (reconstruct, 'numpy.core.multiarray._reconstruct'),
               (scalar, 'numpy.core.multiarray.scalar')]
    for name in ('Float16DType', 'Float32DType', 'Float64DType', 'Int8DType', 'Int16DType',
                 'Int32DType', 'Int64DType', 'UInt8DType', 'UInt16DType', 'UInt32DType',
                 'UInt64DType', 'BoolDType'):
        if hasattr(np, 'dtypes') and hasattr(np.dtypes, name):
            allowed.append(getattr(np.dtypes, name))
    return allowed


def _reduce_history_buffer(buffer: HistoryBuffer):
    # The statistics methods live in a class-level registry, which __setstate__ restores.
    state = {k: v for k, v in buffer.__dict__.items() if k != 'statistics_methods'}
    return HistoryBuffer, (), state


def allow_mmengine_checkpoints() -> None:
    """Allow the types mmengine's Runner saves; idempotent."""
    torch.serialization.add_safe_globals([HistoryBuffer] + _numpy_globals())
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read: missing, truncated, not a checkpoint, or unsafe."""


def load_checkpoint_file(path: str, map_location: Any = 'cpu') -> Dict:
    """``torch.load(path, weights_only=True)`` with errors that say what is wrong with the file."""
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: expected a file at {path!r}')
    size = os.path.getsize(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        unsafe = [line for line in str(e).splitlines() if 'unsupported global' in line.lower()]
        if unsafe:
            raise CheckpointError(
                f'refused to load {path!r}: it holds objects outside the allow-list of tensors, '
                f'containers and mmengine log buffers ({unsafe[0].strip()[:300]}). Load it '
                'unsafely only if you trust its source.') from e
        raise CheckpointError(f'{path!r} ({size} bytes) is not a readable PyTorch checkpoint: '
                              f'expected a torch.save() file') from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(
            f'{path!r} ({size} bytes) is not a readable PyTorch checkpoint: expected a complete '
            f'torch.save() file; it may be truncated or of another format ({e})') from e
    if not isinstance(obj, dict):
        raise CheckpointError(f'{path!r} holds a {type(obj).__name__}, expected a dict '
                              '(a state_dict or a checkpoint with a "state_dict" key)')
    return obj
