"""What tools/train.py and tools/test.py share: reading the config as mmdet's tools do, checking
it before anything is built, and building the Runner (with gloo on CPU)."""
import argparse
import contextlib
import os
import os.path as osp
import sys
from typing import Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmdet_cgd.utils import (CheckpointError, check_backbone_plugins, check_dataloader_data,
                             load_checkpoint_file)
from .cpu_distributed import prepare_cpu_distributed


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add the options train and test share (mmdet's names), parse, and set ``LOCAL_RANK``."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (e.g. train_cfg.max_iters=10)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--skip-data-check', action='store_true',
                        help='do not check the COCO annotation files before starting')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_tool_config(args) -> Config:
    """``args.config`` with ``--launcher``, ``--cfg-options`` and ``--work-dir`` applied."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def check_tool_config(cfg: Config, dataloaders: Sequence[str], check_data: bool = True) -> None:
    """Raise a clear ``ValueError``/``CheckpointError`` for a checkpoint that will not load, a
    plugin mistake or a broken COCO file, before the Runner meets them."""
    if cfg.get('load_from'):
        load_checkpoint_file(cfg.load_from)
    check_backbone_plugins(cfg.model)
    if check_data:
        check_dataloader_data(cfg, dataloaders)


@contextlib.contextmanager
def exit_on_user_error():
    """A mistake in the command, config, data or checkpoint ends the tool with ``error: ...``
    and a non-zero status instead of a traceback."""
    try:
        yield
    except (ValueError, CheckpointError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')


def build_runner(cfg: Config) -> Runner:
    prepare_cpu_distributed(cfg)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
