"""Files written whole or not at all: a temporary file beside the target, flushed, renamed
over it. A reader (or a run killed mid-write) sees the old file or the new one, never half."""
import os
import tempfile
from pathlib import Path
from typing import Union


def write_atomically(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through a temp file and a rename; the file gets the mode
    an ordinary write would give it (the existing file's, else 0666 minus the umask)."""
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    try:
        mode = os.stat(filepath).st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0o022)  # read by setting it: no other way outside /proc
        os.umask(mask)
        mode = 0o666 & ~mask
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{os.path.basename(filepath)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)  # mkstemp made it 0600
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        os.unlink(tmp)
        raise
