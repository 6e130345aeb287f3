"""Writing checkpoint files whole or not at all (published files: ``tools/model_converters/
publish_model.py``)."""
import io
import os
from pathlib import Path
from typing import Union

import torch

from mmdet_cgd.utils.atomic_write import write_atomically


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
