"""Publish a training checkpoint: weights and plain-typed meta only, sha256 prefix in the name.

    python tools/model_converters/publish_model.py work_dirs/x/iter_12000.pth faster-rcnn_cgd.pth
    # -> faster-rcnn_cgd-1a2b3c4d.pth

The file opens with plain ``torch.load(weights_only=True)``, mmdet's ``init_detector`` and
``DetInferencer(weights=...)`` in an interpreter that never imported mmdet_cgd (mmdet's own
publish_model.py cannot read our training checkpoints there: they hold mmengine's log buffers).
"""
import argparse
import os
import sys

from mmdet_cgd.checkpoint import (
    CheckpointError,
    publish_checkpoint,
    trust_checkpoints_in_this_process,
)


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
