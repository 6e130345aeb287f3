"""Which checkpoint a run resumes from, and whether a file can be resumed at all."""
import logging
import re
from pathlib import Path
from typing import Dict, Optional

from mmengine.logging import print_log

from .loading import CheckpointError, load_checkpoint_file

# what the Runner writes for a resumable run; a bare state dict or a published file lacks these
RESUME_KEYS = ('meta', 'state_dict', 'optimizer')


def check_resumable(checkpoint: Dict, name: str) -> None:
    """Raise unless ``checkpoint`` is one the Runner saved mid-training (it can continue)."""
    missing = [k for k in RESUME_KEYS if k not in checkpoint]
    if missing:
        keys = sorted(map(str, checkpoint))
        raise CheckpointError(
            f'--resume needs a training checkpoint written by the Runner (keys {RESUME_KEYS}); '
            f'{name!r} lacks {missing} (it has {keys[:6]}{" ..." if len(keys) > 6 else ""}), '
            f'so it holds weights only. To start a new run from these weights use '
            f'--cfg-options load_from={name}')


def _progress(path: Path) -> int:
    match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', path.name)
    return int(match.group(1)) if match else -1


def find_resume_checkpoint(work_dir) -> Optional[str]:
    """``last_checkpoint`` if it names a readable training checkpoint, else the furthest such
    ``iter_*.pth`` / ``epoch_*.pth`` in ``work_dir``; None when there is no checkpoint at all.

    A run killed while writing ``last_checkpoint`` or a checkpoint must not restart from
    scratch or stop on a broken file when an older good checkpoint is there; and when every
    checkpoint there is refused or unreadable, a fresh start would silently overwrite them: that
    is a ``CheckpointError`` naming each file and why.
    """
    work_dir = Path(work_dir)
    candidates = []
    pointer = work_dir / 'last_checkpoint'
    if pointer.is_file():
        named = pointer.read_text().strip()
        if named:
            candidates.append(Path(named))
    candidates += sorted(work_dir.glob('*.pth'), key=_progress, reverse=True)
    skipped, seen = {}, set()
    for path in candidates:
        if not path.is_file() or str(path.resolve()) in seen:
            continue
        seen.add(str(path.resolve()))
        try:
            check_resumable(load_checkpoint_file(str(path)), str(path))
        except CheckpointError as e:
            print_log(f'--resume: skipped {str(path)!r}: {e}', logger='current',
                      level=logging.WARNING)
            skipped[str(path)] = str(e)
            continue
        return str(path)
    if skipped:
        reasons = '; '.join(skipped.values())  # each names its file
        raise CheckpointError(
            f'--resume: none of the {len(skipped)} checkpoint(s) in {str(work_dir)!r} can be '
            f'resumed, and starting from scratch would overwrite them: {reasons}. Fix or move '
            'them away, or train without --resume to start a new run')
    return None
