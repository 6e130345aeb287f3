"""The types mmengine's Runner saves in a checkpoint, allowed for ``torch.load(weights_only=True)``.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, so under torch >= 2.6 its own
checkpoints (message hub: ``HistoryBuffer`` holding numpy arrays and scalars) load only once
these are allowed (``allow_mmengine_checkpoints``, run when ``mmdet_cgd`` is imported: the one
thing importing the package does beyond registering modules). ``HistoryBuffer`` pickles its
statistics methods, which take ``builtins.getattr`` to unpickle, a global that would let a hostile
file reach far more; ``WeightsOnlyCheckpointHook`` (selected by our configs) saves ``LogBuffer``s
without them.
"""
from collections import Counter
from typing import Any, Dict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# torch's own allow-list for weights_only loading takes (object, name) pairs from 2.6 on (when
# weights_only=True became the default); older torch loads our checkpoints through
# ``restricted_pickle``, which allows exactly what ``allowed_globals`` lists.
TORCH_HAS_ALLOW_LIST = torch.__version__ >= '2.6'
# numpy 1.26 may hold a partial ``numpy._core`` (once cv2 has imported it) without multiarray
NUMPY_CORE = np._core if np.lib.NumpyVersion(np.__version__) >= '2.0.0' else np.core
NUMPY_DTYPES = ('Float16DType', 'Float32DType', 'Float64DType', 'Int8DType', 'Int16DType',
                'Int32DType', 'Int64DType', 'UInt8DType', 'UInt16DType', 'UInt32DType',
                'UInt64DType', 'BoolDType')


class LogBuffer(HistoryBuffer):
    """A ``HistoryBuffer`` that pickles without the statistics methods: they live in a
    class-level registry, which the default methods re-enter on every ``__init__``."""

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != 'statistics_methods'}


def _qualified(obj) -> str:
    return f'{obj.__module__}.{obj.__name__}'


def allowed_globals() -> Dict[str, Any]:
    """What mmengine's Runner saves besides tensors and torch's containers, by the name a pickle
    gives it: its log buffers, MultiStepLR's milestones (a ``Counter``, on torch's own list from
    2.6 only), numpy arrays, dtypes and scalars (under numpy 1's and numpy 2's module names, for
    checkpoints either saved). Never ``builtins.getattr``."""
    allowed = {_qualified(c): c
               for c in (HistoryBuffer, LogBuffer, Counter, np.ndarray, np.dtype)}
    allowed['numpy.ndarray'], allowed['numpy.dtype'] = np.ndarray, np.dtype
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed[f'{module}._reconstruct'] = NUMPY_CORE.multiarray._reconstruct
        allowed[f'{module}.scalar'] = NUMPY_CORE.multiarray.scalar
    for name in NUMPY_DTYPES:
        if hasattr(np, 'dtypes') and hasattr(np.dtypes, name):
            allowed[f'numpy.dtypes.{name}'] = getattr(np.dtypes, name)
    return allowed


def allow_mmengine_checkpoints() -> None:
    """Add the types mmengine's Runner saves to torch's safe-load list (torch >= 2.6, whose
    ``torch.load`` is weights-only by default, in mmengine too); idempotent. Older torch has no
    such list: ``load_checkpoint_file`` restricts unpickling itself there."""
    if TORCH_HAS_ALLOW_LIST:
        torch.serialization.add_safe_globals(
            [(obj, name) for name, obj in allowed_globals().items()])
