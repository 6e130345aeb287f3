"""Writing checkpoint files: whole or not at all, and published files that stock mmdet and plain
``torch.load(weights_only=True)`` read."""
import hashlib
import io
import os
from pathlib import Path
from typing import Union

import numpy as np
import torch

from mmdet_cgd.utils.atomic_write import write_atomically

from .loading import CheckpointError, load_checkpoint_file


def checkpoint_bytes(obj) -> bytes:
    """``torch.save(obj)`` as bytes."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint_file(obj, path: Union[str, Path], force: bool = False) -> None:
    """``torch.save`` through an atomic write; refuses to replace ``path`` unless ``force``."""
    if os.path.exists(path) and not force:
        raise FileExistsError(f'{str(path)!r} exists; pass --force to overwrite it')
    write_atomically(checkpoint_bytes(obj), path)


def plain_types(obj):
    """``obj`` with numpy values made Python ones and anything else unknown made a string, so
    that ``torch.load(weights_only=True)`` reads it in any interpreter."""
    if isinstance(obj, dict):
        return {plain_types(k): plain_types(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain_types(v) for v in obj)
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    if obj is None or isinstance(obj, (str, int, float, bool, torch.Tensor)):
        return obj
    return str(obj)


def publish_checkpoint(src: str, out: Union[str, Path]) -> str:
    """Write ``src``'s weights and plain-typed ``meta`` (no optimizer, schedulers or message hub)
    as ``OUT-<sha256[:8]>.pth``, readable by stock mmdet and plain ``torch.load``; returns it."""
    checkpoint = load_checkpoint_file(src)
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise CheckpointError(f'{src!r}: expected a "state_dict" of tensors to publish')
    published = dict(state_dict={k: v.detach().cpu() for k, v in state.items()
                                 if not k.startswith('ema_')},
                     meta=plain_types(checkpoint.get('meta') or {}))
    data = checkpoint_bytes(published)
    stem = str(out)[:-len('.pth')] if str(out).endswith('.pth') else str(out)
    final = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    write_atomically(data, final)
    return final
