"""Publish a training checkpoint: weights and plain-typed meta only, sha256 prefix in the name.

    python tools/model_converters/publish_model.py work_dirs/x/iter_12000.pth faster-rcnn_cgd.pth
    # -> faster-rcnn_cgd-1a2b3c4d.pth

The file opens with plain ``torch.load(weights_only=True)``, mmdet's ``init_detector`` and
``DetInferencer(weights=...)`` in an interpreter that never imported mmdet_cgd (mmdet's own
publish_model.py cannot read our training checkpoints there: they hold mmengine's log buffers).
"""
import argparse
import hashlib
import os
import sys
from pathlib import Path
from typing import Union

import numpy as np
import torch

from mmdet_cgd.checkpoint import (
    CheckpointError,
    load_checkpoint_file,
    trust_checkpoints_in_this_process,
)
from mmdet_cgd.checkpoint.writing import checkpoint_bytes
from mmdet_cgd.utils import write_atomically


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('in_file', help='checkpoint to publish (path or URL)')
    parser.add_argument('out_file', help='output name; "-<sha256[:8]>.pth" replaces ".pth"')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='read an in_file holding objects outside the allow-list (full '
                        'unpickling: only for files you trust)')
    args = parser.parse_args()
    if args.trust_checkpoint:
        trust_checkpoints_in_this_process()
    try:
        final = publish_checkpoint(args.in_file, args.out_file)
    except (CheckpointError, OSError) as e:
        sys.exit(f'error: {e}')
    print(f'wrote {final} ({os.path.getsize(final)} bytes)')


if __name__ == '__main__':
    main()
