"""Files written whole or not at all: a temporary file beside the target, flushed, renamed
over it. A reader (or a run killed mid-write) sees the old file or the new one, never half."""
import os
import tempfile
from pathlib import Path
from typing import Union


def _umask() -> int:
    # /proc avoids os.umask's set-and-restore, which races with other threads creating files
    try:
        with open('/proc/self/status') as f:
            line = next(line for line in f if line.startswith('Umask:'))
        return int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def write_atomically(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through a temp file and a rename; the file gets the mode
    an ordinary write would give it (the existing file's, else 0666 minus the umask)."""
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    try:
        mode = os.stat(filepath).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
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
