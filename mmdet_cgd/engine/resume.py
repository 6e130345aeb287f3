"""Which checkpoint ``--resume`` continues from: the newest one that actually loads."""
import os
import re
from pathlib import Path
from typing import Optional

from mmdet_cgd.utils import CheckpointError, load_checkpoint_file


def _progress(path: Path) -> int:
    match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', path.name)
    return int(match.group(1)) if match else -1


def find_resume_checkpoint(work_dir) -> Optional[str]:
    """``last_checkpoint`` if it names a readable file, else the furthest readable
    ``iter_*.pth`` / ``epoch_*.pth`` in ``work_dir``; None when there is none.

    A run killed while writing ``last_checkpoint`` or a checkpoint must not restart from
    scratch or stop on a broken file when an older good checkpoint is there.
    """
    work_dir = Path(work_dir)
    candidates = []
    pointer = work_dir / 'last_checkpoint'
    if pointer.is_file():
        named = pointer.read_text().strip()
        if named:
            candidates.append(Path(named))
    candidates += sorted(work_dir.glob('*.pth'), key=_progress, reverse=True)
    for path in candidates:
        if path.is_file() and os.path.getsize(path) > 0:
            try:
                load_checkpoint_file(str(path))
            except CheckpointError:
                continue
            return str(path)
    return None
