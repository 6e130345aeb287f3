"""The types mmengine's Runner saves in a checkpoint, allowed for ``torch.load(weights_only=True)``.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, so under torch >= 2.6 its own
checkpoints (message hub: ``HistoryBuffer`` holding numpy arrays and scalars) load only once
these are allowed (``allow_mmengine_checkpoints``, run when ``mmdet_cgd`` is imported: the one
thing importing the package does beyond registering modules). ``HistoryBuffer`` pickles its
statistics methods, which take ``builtins.getattr`` to unpickle, a global that would let a hostile
file reach far more; ``WeightsOnlyCheckpointHook`` (selected by our configs) saves ``LogBuffer``s
without them.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_NUMPY_CORE = np._core if hasattr(np, '_core') else np.core  # numpy 2 / numpy 1


class LogBuffer(HistoryBuffer):
    """A ``HistoryBuffer`` that pickles without the statistics methods: they live in a
    class-level registry, which the default methods re-enter on every ``__init__``."""

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != 'statistics_methods'}


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


def allow_mmengine_checkpoints() -> None:
    """Add the types mmengine's Runner saves to torch's safe-load list; idempotent."""
    torch.serialization.add_safe_globals([HistoryBuffer, LogBuffer] + _numpy_globals())
