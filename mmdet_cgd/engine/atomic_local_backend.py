"""``backend_args=dict(backend='atomic_local')``: mmengine fileio's local writes made atomic.

mmengine's ``LocalBackend.put`` opens the target file and writes into it: a process killed
during a checkpoint save leaves a truncated file at the checkpoint's path. This backend writes
through ``write_atomically`` instead. It is registered under its own name, with no prefixes, so
nothing changes for anyone who does not select it; our configs select it for checkpoints with
``default_hooks.checkpoint.backend_args``.
"""
from pathlib import Path
from typing import Union

from mmengine.fileio.backends import LocalBackend, register_backend

from mmdet_cgd.utils import write_atomically

BACKEND_NAME = 'atomic_local'


@register_backend(BACKEND_NAME)
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put``/``put_text`` replace the file in one rename."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        write_atomically(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        write_atomically(obj.encode(encoding), filepath)
