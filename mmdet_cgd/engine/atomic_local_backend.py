"""Local file writes through mmengine's fileio (checkpoints, configs, metrics) made atomic.

mmengine's ``LocalBackend.put`` opens the target file and writes into it: a process killed
during a checkpoint save leaves a truncated file at the checkpoint's path. Here the bytes go to
a temporary file beside it, are flushed to disk, and replace the target in one rename, so the
path holds the old file or the new one, never half of one.
"""
import os
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio.backends import LocalBackend, register_backend


def write_atomically(data: bytes, filepath: Union[str, Path]) -> None:
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{os.path.basename(filepath)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        os.unlink(tmp)
        raise


class AtomicLocalBackend(LocalBackend):

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        write_atomically(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        write_atomically(obj.encode(encoding), filepath)


def use_atomic_local_writes() -> None:
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
