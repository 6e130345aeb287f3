"""Train a detector: mmdet's tools/train.py command line, plus CPU (gloo) distributed runs.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
                                 [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
                                 [--trust-checkpoint]
"""
import argparse

import torch
from mmengine.config import Config

from mmdet_cgd.checkpoint import CheckpointError, find_resume_checkpoint
from mmdet_cgd.utils.errors import AnnotationError, CGDConfigError, NonFiniteError

from .common import (
    check_tool_config,
    exit_on_user_error,
    load_tool_config,
    parse_tool_args,
    run_checked,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint (path or URL), or from the furthest '
                        'readable one in the work dir when no path is given')
    args = parse_tool_args(parser, argv)
    return args


def prepare_config(args) -> Config:
    """The config the Runner gets, after every check that can fail with a clear message."""
    cfg = load_tool_config(args)
    if args.amp:
        if not torch.cuda.is_available():
            # mmengine's AmpOptimWrapper asserts CUDA; float16 autocast is a GPU feature
            raise ValueError('--amp needs a CUDA GPU (mmengine\'s AmpOptimWrapper runs float16 '
                             'autocast on CUDA only) and this machine has none; train without '
                             '--amp on CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError(f'--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                             f'config; {args.config} has auto_scale_lr={cfg.get("auto_scale_lr")}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        # the furthest checkpoint that loads, even if the last save was cut short
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
        cfg.resume = cfg.load_from is not None  # else mmengine falls back to last_checkpoint
        if cfg.load_from is None:
            print(f'--resume: no checkpoint in {cfg.work_dir} yet, starting from scratch')
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    check_tool_config(cfg, ('train_dataloader', 'val_dataloader'), not args.skip_data_check,
                      training=True, trust=args.trust_checkpoint)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    with exit_on_user_error():
        cfg = prepare_config(args)
    # a pretrained backbone that does not fit is found when the runner initialises the weights,
    # unusable annotations before the first step; NaN in a loss or a checkpoint, at that iteration
    run_checked(cfg, ('train', 'val'), lambda runner: runner.train(),
                (CheckpointError, CGDConfigError, AnnotationError, NonFiniteError))


if __name__ == '__main__':
    main()
