"""Checkpoint files: where they come from, how they are read and written, which one to resume.

Reading is ``torch.load(weights_only=True)`` with an allow-list, never unsafe unpickling unless
the user opts in (``MMDET_CGD_TRUST_CHECKPOINTS=1`` or a tool's ``--trust-checkpoint``).
mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, so under torch >= 2.6 its own
checkpoints (message hub: ``HistoryBuffer`` holding numpy arrays and scalars) need
``allow_mmengine_checkpoints`` (run when ``mmdet_cgd`` is imported), which allows exactly those.

URLs and mmdet's model-zoo names (``torchvision://``, ``open-mmlab://``) are downloaded into
torch's hub cache by us and then read like local files: mmengine's own http loader unpickles
with ``weights_only=False``.

Writing goes to a temporary file beside the target, flushed, then renamed over it: a path holds
the old file or the new one, never half of one. ``HistoryBuffer`` pickles its statistics methods,
which take ``builtins.getattr`` to unpickle, a global that would let a hostile file reach far
more; ``WeightsOnlyCheckpointHook`` (selected by our configs) saves buffers without them.
"""
import hashlib
import io
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

TRUST_ENV = 'MMDET_CGD_TRUST_CHECKPOINTS'
URL_PREFIXES = ('http://', 'https://')
ZOO_PREFIXES = ('torchvision://', 'open-mmlab://', 'openmmlab://')
# what the Runner writes for a resumable run; a bare state dict or a published file lacks these
RESUME_KEYS = ('meta', 'state_dict', 'optimizer')

_NUMPY_CORE = np._core if hasattr(np, '_core') else np.core  # numpy 2 / numpy 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, not a checkpoint, or unsafe."""


class LogBuffer(HistoryBuffer):
    """A ``HistoryBuffer`` that pickles without the statistics methods: they live in a
    class-level registry, which the default methods re-enter on every ``__init__``."""

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != 'statistics_methods'}


def _numpy_globals():
    reconstruct, scalar = _NUMPY_CORE.multiarray._reconstruct, _NUMPY_CORE.multiarray.scalar
    allowed = [np.ndarray, np.dtype, reconstruct, scalar,
               # the same functions as numpy 1 named them, for checkpoints it saved
               (reconstruct, 'numpy.core.multiarray._reconstruct'),
               (scalar, 'numpy.core.multiarray.scalar')]
    for name in ('Float16DType', 'Float32DType', 'Float64DType', 'Int8DType', 'Int16DType',
                 'Int32DType', 'Int64DType', 'UInt8DType', 'UInt16DType', 'UInt32DType',
                 'UInt64DType', 'BoolDType'):
        if hasattr(np, 'dtypes') and hasattr(np.dtypes, name):
            allowed.append(getattr(np.dtypes, name))
    return allowed


def allow_mmengine_checkpoints() -> None:
    """Add the types mmengine's Runner saves to torch's safe-load list; idempotent."""
    torch.serialization.add_safe_globals([HistoryBuffer, LogBuffer] + _numpy_globals())


def trust_requested() -> bool:
    return os.environ.get(TRUST_ENV, '0').lower() in ('1', 'true', 'yes')


def trust_checkpoints_in_this_process() -> None:
    """The user's opt-in: every checkpoint this process loads is unpickled in full, by us and
    by mmengine's Runner (which reads torch's ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``)."""
    os.environ[TRUST_ENV] = '1'
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'


def _zoo_url(name: str) -> str:
    from mmengine.runner.checkpoint import (
        _get_mmengine_home,
        get_deprecated_model_names,
        get_external_models,
        get_torchvision_models,
    )
    scheme, key = name.split('://', 1)
    if scheme == 'torchvision':
        urls = get_torchvision_models()
    else:
        urls = get_external_models()
        key = get_deprecated_model_names().get(key, key)
    if key not in urls:
        raise CheckpointError(f'unknown model name {name!r}: expected one of {scheme}:// '
                              f'{sorted(urls)[:12]} ... ({len(urls)} names)')
    url = urls[key]
    return url if url.startswith(URL_PREFIXES) else os.path.join(_get_mmengine_home(), url)


def _download_to_hub_cache(url: str) -> str:
    """The cached copy of ``url`` under ``torch.hub.get_dir()/checkpoints``, as torch.hub
    names it; rank 0 downloads, the other ranks wait for it."""
    from mmengine.dist import barrier, get_dist_info
    name = os.path.basename(urllib.parse.urlparse(url).path) or 'checkpoint.pth'
    path = os.path.join(torch.hub.get_dir(), 'checkpoints', name)
    rank, world_size = get_dist_info()
    if rank == 0 and not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, path, progress=False)
        except (urllib.error.URLError, OSError) as e:
            raise CheckpointError(f'could not download the checkpoint {url!r}: {e}; download it '
                                  'yourself and give its local path instead') from e
    if world_size > 1:
        barrier()
    return path


def resolve_checkpoint(name: str) -> str:
    """A local path for ``name``: itself, or the cached download of a URL or model-zoo name."""
    if not isinstance(name, (str, Path)):
        raise CheckpointError(f'expected a checkpoint path or URL, got {name!r}')
    name = str(name)
    if name.startswith(ZOO_PREFIXES):
        name = _zoo_url(name)
    if name.startswith(URL_PREFIXES):
        return _download_to_hub_cache(name)
    return name


def load_checkpoint_file(name: str, map_location: Any = 'cpu') -> Dict:
    """Read a checkpoint (path, URL or model-zoo name) with ``weights_only=True``, unless
    trusted, with errors that say what is wrong with the file."""
    path = resolve_checkpoint(name)
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: expected a file at {path!r}')
    size, trusted = os.path.getsize(path), trust_requested()
    try:
        obj = torch.load(path, map_location=map_location, weights_only=not trusted)
    except pickle.UnpicklingError as e:
        unsafe = [line for line in str(e).splitlines() if 'unsupported global' in line.lower()]
        if unsafe:
            raise CheckpointError(
                f'refused to load {path!r}: it holds objects outside the allow-list of tensors, '
                f'containers and mmengine log buffers ({unsafe[0].strip()[:300]}). If you trust '
                f'its source, set {TRUST_ENV}=1 or pass --trust-checkpoint to train/test; '
                'tools/model_converters/publish_model.py writes a file that needs neither') from e
        raise CheckpointError(f'{path!r} ({size} bytes) is not a readable PyTorch checkpoint: '
                              f'expected a torch.save() file') from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(
            f'{path!r} ({size} bytes) is not a readable PyTorch checkpoint: expected a complete '
            f'torch.save() file; it may be truncated or of another format ({e})') from e
    if not isinstance(obj, dict):
        raise CheckpointError(f'{path!r} holds a {type(obj).__name__}, expected a dict '
                              '(a state_dict or a checkpoint with a "state_dict" key)')
    return obj


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
    buffer = io.BytesIO()
    torch.save(published, buffer)
    data = buffer.getvalue()
    stem = str(out)[:-len('.pth')] if str(out).endswith('.pth') else str(out)
    final = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    write_atomically(data, final)
    return final


def _progress(path: Path) -> int:
    match = re.fullmatch(r'(?:iter|epoch)_(\d+)\.pth', path.name)
    return int(match.group(1)) if match else -1


def find_resume_checkpoint(work_dir) -> Optional[str]:
    """``last_checkpoint`` if it names a readable training checkpoint, else the furthest such
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
                check_resumable(load_checkpoint_file(str(path)), str(path))
            except CheckpointError:
                continue
            return str(path)
    return None
