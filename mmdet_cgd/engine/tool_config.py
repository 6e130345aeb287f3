"""What tools/train.py and tools/test.py share: reading the config as mmdet's tools do, checking
it before anything is built, and building the Runner (with gloo on CPU)."""
import os.path as osp
from typing import Sequence

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmdet_cgd.utils import check_backbone_plugins, check_dataloader_data, load_checkpoint_file
from .cpu_distributed import prepare_cpu_distributed


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


def build_runner(cfg: Config) -> Runner:
    prepare_cpu_distributed(cfg)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
