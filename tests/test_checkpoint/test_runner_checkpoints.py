"""Every checkpoint mmengine's Runner writes for a shipped config loads with our safe loader.

What a checkpoint holds beyond weights depends on the config's param schedulers (MultiStepLR
saves its milestones as a ``collections.Counter``), optimizer, hooks and train loop. For each
distinct such set among ``configs/**`` a Runner with that part of the config (and a tiny model in
place of the detector) trains one step, saves, and the file must load through both paths of
``load_checkpoint_file`` and be found by ``--resume``.
"""
import copy
from collections import Counter
from pathlib import Path

import pytest
import torch
from config_helpers import parse_configs
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

from mmdet_cgd.checkpoint import find_resume_checkpoint, load_checkpoint_file

REPO = Path(__file__).resolve().parents[2]
# configs/deploy holds mmdeploy's deploy configs (docs/deployment.md), no training
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py')
                 if '_base_' not in p.parts and p.parent.name != 'deploy')


def hook_types(cfg):
    hooks = list((cfg.get('default_hooks') or {}).values()) + list(cfg.get('custom_hooks') or [])
    return tuple(sorted(h['type'] if isinstance(h['type'], str) else h['type'].__name__
                        for h in hooks if h))


def loop_type(train_cfg):
    if 'type' in train_cfg:
        return train_cfg['type']
    return 'EpochBasedTrainLoop' if train_cfg.get('by_epoch', True) else 'IterBasedTrainLoop'


def checkpoint_parts(cfg):
    """What decides a Runner checkpoint's contents besides the weights, as a comparable key."""
    optimizer = cfg.optim_wrapper.get('optimizer', {})
    return repr((cfg.get('param_scheduler'), cfg.optim_wrapper.get('type', 'OptimWrapper'),
                 optimizer.get('type'), sorted(optimizer), hook_types(cfg),
                 loop_type(cfg.train_cfg), cfg.get('default_scope')))


def distinct_configs():
    """One (path, config) per distinct set of checkpoint parts, with the paths it stands for."""
    groups = {}
    for path, cfg in parse_configs(CONFIGS).items():
        groups.setdefault(checkpoint_parts(cfg), []).append((path, cfg))
    return {members[0][0]: (members[0][1], [p for p, _ in members])
            for members in groups.values()}


def dataset_metainfo(cfg):
    """The metainfo of the config's dataset class (what the Runner saves as dataset_meta)."""
    dataset = cfg.train_dataloader.dataset
    while 'type' in dataset and ('dataset' in dataset or 'datasets' in dataset):
        dataset = dataset.get('dataset') or dataset['datasets'][0]
    if cfg.default_scope == 'mmpretrain':
        from mmpretrain.registry import DATASETS
    else:
        from mmdet.registry import DATASETS
    return copy.deepcopy(DATASETS.get(dataset['type']).METAINFO)


class TinyModel(BaseModel):
    """A conv, a norm and a linear layer: every kind of optimizer state a detector has."""

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.bn(self.conv(torch.stack(inputs))).mean((2, 3))
        return dict(loss=self.fc(x).pow(2).mean())


class TinyDataset(list):

    def __init__(self, metainfo):
        super().__init__(dict(inputs=torch.rand(3, 8, 8)) for _ in range(2))
        self.metainfo = metainfo


def train_one_step(cfg: Config, work_dir: Path) -> Path:
    """The config's schedulers, optimizer, hooks and loop, one step on TinyModel; the file."""
    train_cfg = dict(cfg.train_cfg, val_interval=1)
    is_epoch_loop = loop_type(train_cfg) == 'EpochBasedTrainLoop'
    train_cfg.update(dict(max_epochs=1) if is_epoch_loop else dict(max_iters=1))
    default_hooks = copy.deepcopy(cfg.default_hooks)
    default_hooks.checkpoint.update(interval=1, by_epoch=is_epoch_loop)
    loader = DataLoader(TinyDataset(dataset_metainfo(cfg)), batch_size=2,
                        collate_fn=lambda batch: dict(inputs=[b['inputs'] for b in batch]))
    parts = dict(
        train_cfg=train_cfg, optim_wrapper=cfg.optim_wrapper,
        param_scheduler=cfg.get('param_scheduler'), default_hooks=default_hooks,
        custom_hooks=cfg.get('custom_hooks'), log_processor=cfg.get('log_processor'),
        visualizer=dict(cfg.visualizer, name=f'visualizer_{work_dir.name}'),
        default_scope=cfg.default_scope, randomness=dict(seed=cfg.randomness.seed))
    # the config saved in meta is these parts: formatting a whole config takes seconds
    runner = Runner(model=TinyModel(), work_dir=str(work_dir), train_dataloader=loader,
                    experiment_name=work_dir.name, cfg=Config(parts), **parts)
    runner.train()
    saved = sorted(work_dir.glob('*_1.pth'))
    assert len(saved) == 1, sorted(p.name for p in work_dir.iterdir())
    return saved[0]


DISTINCT = distinct_configs()


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    """Each distinct config's checkpoint, saved once for both loading paths."""
    return {path: train_one_step(cfg, tmp_path_factory.mktemp(path.stem))
            for path, (cfg, _) in DISTINCT.items()}


def test_the_shipped_configs_hold_a_multisteplr_config():
    """Else the test below would not cover what issue 26 found."""
    assert any('MultiStepLR' in checkpoint_parts(cfg) for cfg, _ in DISTINCT.values())


@pytest.mark.parametrize('config', sorted(DISTINCT), ids=lambda p: p.stem)
def test_a_runner_checkpoint_of_each_config_loads_safely(saved, config, loader):
    path = saved[config]
    checkpoint = load_checkpoint_file(str(path))
    assert {'meta', 'state_dict', 'optimizer', 'param_schedulers', 'message_hub'} <= set(checkpoint)
    assert torch.is_tensor(checkpoint['state_dict']['conv.weight'])
    schedulers = DISTINCT[config][0].get('param_scheduler')
    schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
    for scheduler, state in zip(schedulers, checkpoint['param_schedulers']):
        if scheduler['type'] == 'MultiStepLR':
            assert state['milestones'] == Counter(scheduler['milestones'])
    assert find_resume_checkpoint(path.parent) == str(path)
