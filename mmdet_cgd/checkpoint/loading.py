"""Reading checkpoint files: where they come from and how they are read.

Reading is ``torch.load(weights_only=True)`` with an allow-list (``safe_globals``; on torch
< 2.6 through ``restricted_pickle``, which allows the same), never unsafe unpickling unless the
user opts in (``MMDET_CGD_TRUST_CHECKPOINTS=1`` or a tool's ``--trust-checkpoint``). URLs and
mmdet's model-zoo names (``torchvision://``, ``open-mmlab://``) are downloaded into torch's hub
cache by us and then read like local files: mmengine's own http loader unpickles with
``weights_only=False``.
"""
import os
import pickle
import urllib.error
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any, Dict

import torch

from mmdet_cgd.utils.errors import CheckpointError

from . import restricted_pickle
from .safe_globals import TORCH_HAS_ALLOW_LIST
from .verify import verify_checkpoint_file

TRUST_ENV = 'MMDET_CGD_TRUST_CHECKPOINTS'
URL_PREFIXES = ('http://', 'https://')
ZOO_PREFIXES = ('torchvision://', 'open-mmlab://', 'openmmlab://')


def trust_requested() -> bool:
    return os.environ.get(TRUST_ENV, '0').lower() in ('1', 'true', 'yes')


def trust_checkpoints_in_this_process() -> None:
    """The user's opt-in: every checkpoint this process loads is unpickled in full, by us and
    by mmengine's Runner (which reads torch's ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` on torch
    >= 2.6; older torch unpickles in full by default, and only our checks refuse first)."""
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


def _torch_load(path: str, map_location: Any, trusted: bool):
    """``torch.load`` that never unpickles beyond the allow-list unless ``trusted``: weights-only
    with torch's allow-list where torch has one (>= 2.6), else through ``restricted_pickle``."""
    if trusted:
        return torch.load(path, map_location=map_location, weights_only=False)
    if TORCH_HAS_ALLOW_LIST:
        return torch.load(path, map_location=map_location, weights_only=True)
    return torch.load(path, map_location=map_location, weights_only=False,
                      pickle_module=restricted_pickle)


def load_checkpoint_file(name: str, map_location: Any = 'cpu') -> Dict:
    """Read a checkpoint (path, URL or model-zoo name) with ``weights_only=True``, unless
    trusted, with errors that say what is wrong with the file."""
    path = resolve_checkpoint(name)
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint not found: expected a file at {path!r}')
    size, trusted = os.path.getsize(path), trust_requested()
    verify_checkpoint_file(path)  # torch.load checks no CRC-32: corrupted bytes would load
    try:
        obj = _torch_load(path, map_location, trusted)
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
