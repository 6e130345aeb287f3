"""A pickle module for ``torch.load(..., pickle_module=restricted_pickle)`` on torch < 2.6,
whose weights-only loader has a fixed allow-list (tensors and a few containers) that no
mmengine checkpoint passes: the same tensors and containers, plus exactly
``safe_globals.allowed_globals()``; any other global is refused with the message newer torch
gives ("Unsupported global: ..."), so callers need one check for both."""
import pickle
from typing import Any, Dict

import torch

from .safe_globals import allowed_globals


def _torch_globals() -> Dict[str, Any]:
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    allowed['_codecs.encode'] = __import__('_codecs').encode  # bytes, as pickle protocol 2 saves
    allowed.update({str(t): t for t in (torch.bfloat16, torch.bool, torch.uint8)})
    return allowed


class Unpickler(pickle.Unpickler):
    """Resolves only allowed globals; storages and tensors come through torch's own wrapper."""

    def find_class(self, module: str, name: str):
        key = f'{module}.{name}'
        for allowed in (_torch_globals(), allowed_globals()):
            if key in allowed:
                return allowed[key]
        raise pickle.UnpicklingError(
            f'Unsupported global: GLOBAL {key} is not an allowed global (mmdet_cgd\'s '
            'restricted unpickler: tensors, containers, mmengine log buffers and numpy arrays)')


def load(file, **kwargs):
    return Unpickler(file, **kwargs).load()

