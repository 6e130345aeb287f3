"""A run killed mid-run and resumed ends exactly where an uninterrupted one does: with each
train loop the shipped configs use, in-process on a tiny model whose data and forward draw from
every RNG, and the demo config killed with SIGKILL through our tools."""
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from config_helpers import parse_configs
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, Runner
from tool_helpers import DEMO_CONFIG, REPO, python, tiny_run_options

from mmdet_cgd.engine import PerIterationSeedHook
from mmdet_cgd.engine.hooks import per_iteration_seed_hook

RUNTIME = Config.fromfile(str(REPO / 'configs' / '_base_' / 'cgd_runtime.py'))
RUNS = itertools.count()  # a name per Runner: mmengine keeps loggers and scopes by name
DETECTION_CONFIGS = sorted([*(REPO / 'configs' / 'cgd').glob('*.py'),
                            *(REPO / 'configs' / 'demo').glob('*.py')])


class Interrupted(Exception):
    """Stands for the kill."""


class Kill(Hook):
    """Ends the run after iteration ``at`` (counted from 1), as a kill would."""

    priority = 'LOWEST'

    def __init__(self, at: int):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            raise Interrupted


class RandomlyAugmented(list):
    """Each item drawn from Python's, numpy's and torch's RNGs, as mmdet's transforms do."""

    metainfo = dict(classes=('thing', ))

    def __init__(self, length: int):
        super().__init__(range(length))

    def __getitem__(self, index):
        shift = random.random() + np.random.rand() + torch.rand(1).item()
        return dict(inputs=torch.full((4, ), float(list.__getitem__(self, index)) + shift))


class SamplingModel(BaseModel):
    """Draws from torch's RNG in its loss (RoI sampling) and in prediction."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        for parameter in self.linear.parameters():  # built before the Runner seeds
            torch.nn.init.constant_(parameter, 0.1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs)
        x = x * torch.rand_like(x)
        if mode == 'loss':
            return dict(loss=self.linear(x).pow(2).mean())
        return [dict(score=s) for s in self.linear(x).flatten().tolist()]


class MeanScore(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results += [s['score'] for s in data_samples]

    def compute_metrics(self, results):
        return dict(mean_score=sum(results) / len(results))


def dataloader(sampler: str, shuffle: bool):
    return dict(dataset=RandomlyAugmented(6), batch_size=2, num_workers=0,
                sampler=dict(type=sampler, shuffle=shuffle),
                collate_fn=dict(type='pseudo_collate'))


def train(work_dir: Path, by_epoch: bool, kill_at=None, resume_from=None):
    """3 epochs of 3 iterations, or 9 iterations, validating every 3, checkpoints every 3, with
    our runtime's hooks; the final weights."""
    if by_epoch:
        train_cfg, sampler = dict(type='EpochBasedTrainLoop', max_epochs=3), 'DefaultSampler'
    else:
        train_cfg = dict(type='IterBasedTrainLoop', max_iters=9, val_interval=3)
        sampler = 'InfiniteSampler'
    hooks = Config(dict(RUNTIME.default_hooks, checkpoint=dict(
        RUNTIME.default_hooks.checkpoint, by_epoch=by_epoch, interval=1 if by_epoch else 3)))
    runner = Runner(
        model=SamplingModel(), work_dir=str(work_dir), experiment_name=f'run{next(RUNS)}',
        train_dataloader=dataloader(sampler, True), train_cfg=train_cfg,
        val_dataloader=dataloader('DefaultSampler', False), val_cfg=dict(),
        val_evaluator=dict(type=MeanScore), default_hooks=hooks,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-3, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', by_epoch=by_epoch, milestones=[2, 6]),
        custom_hooks=[*RUNTIME.custom_hooks, *([Kill(kill_at)] if kill_at else [])],
        default_scope=RUNTIME.default_scope,
        randomness=RUNTIME.randomness, resume=resume_from is not None, load_from=resume_from)
    try:
        runner.train()
    except Interrupted:
        return None
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


@pytest.mark.parametrize('by_epoch', [True, False], ids=['EpochBasedTrainLoop',
                                                          'IterBasedTrainLoop'])
def test_a_run_killed_and_resumed_ends_as_the_uninterrupted_one(tmp_path, by_epoch):
    """Killed in epoch 2 (iteration 5), resumed from the end of epoch 1 (iteration 3)."""
    uninterrupted = train(tmp_path / 'whole', by_epoch)
    assert train(tmp_path / 'killed', by_epoch, kill_at=5) is None
    checkpoint = tmp_path / 'killed' / ('epoch_1.pth' if by_epoch else 'iter_3.pth')
    assert checkpoint.is_file()
    resumed = train(tmp_path / 'killed', by_epoch, resume_from=str(checkpoint))
    different = [k for k in uninterrupted if not torch.equal(uninterrupted[k], resumed[k])]
    assert not different, f'{different} differ'


def test_every_detection_config_seeds_each_batch():
    """What cgd_runtime.py claims, for every train loop our detection configs use."""
    for path, cfg in parse_configs(DETECTION_CONFIGS).items():
        hooks = [h['type'] for h in [*cfg.default_hooks.values(), *cfg.get('custom_hooks', [])]
                 if h]
        loop = cfg.train_cfg.get('type')
        assert loop in ('EpochBasedTrainLoop', 'IterBasedTrainLoop'), (path, loop)
        assert 'PerIterationSeedHook' in hooks, path
        assert cfg.randomness.get('seed') is not None, path


def test_the_hook_says_where_a_resumed_run_will_differ(monkeypatch):
    logged = []
    monkeypatch.setattr(per_iteration_seed_hook, 'print_log', lambda msg, **kw: logged.append(msg))

    class StubRunner:
        train_loop, _randomness_cfg, seed = object(), dict(seed=0), 0

    hook = PerIterationSeedHook()
    hook.before_train(StubRunner())
    assert hook.seed is None and 'and this run uses object' in logged[-1]
    StubRunner.train_loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)
    StubRunner._randomness_cfg = dict(seed=None)  # mmengine has drawn runner.seed
    hook.before_train(StubRunner())
    assert hook.seed is None and 'sets no randomness.seed' in logged[-1]
    StubRunner._randomness_cfg = dict(seed=3)
    hook.before_train(StubRunner())
    assert hook.seed == 0 and len(logged) == 2  # the runner's seed (rank added where asked)
    StubRunner.train_loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    StubRunner.train_loop.dataloader_iterator = iter(['batch 0', 'batch 1'])
    hook.before_train(StubRunner())
    batches = StubRunner.train_loop.dataloader_iterator
    assert next(batches) == 'batch 0' and torch.initial_seed() == 0
    assert next(batches) == 'batch 1' and torch.initial_seed() == 1 and len(logged) == 2


MAX_ITERS = 6
DETERMINISTIC = ['randomness.deterministic=True']


def final_val_metrics(log: str) -> str:
    lines = [line for line in log.splitlines() if 'coco/bbox_mAP:' in line]
    assert lines, 'no validation metrics in the log'
    return lines[-1].split('coco/bbox_mAP:', 1)[1].split('data_time')[0].strip()


@pytest.fixture(scope='module')
def uninterrupted(tiny_coco, tmp_path_factory):
    work = tmp_path_factory.mktemp('uninterrupted')
    options = [o for o in tiny_run_options(tiny_coco, max_iters=MAX_ITERS)
               if not o.startswith('randomness.seed=')]
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', work, *options, *DETERMINISTIC)
    return work, proc.stdout + proc.stderr


def test_sigkill_then_resume_equals_the_uninterrupted_run(uninterrupted, tiny_coco, tmp_path):
    # the demo config's own seed: no randomness.seed option (issue #18, case 3)
    options = [o for o in tiny_run_options(tiny_coco, max_iters=MAX_ITERS)
               if not o.startswith('randomness.seed=')] + DETERMINISTIC
    cmd = [sys.executable, 'tools/train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path),
           *options]
    child = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, OMP_NUM_THREADS='1'))
    pointer = tmp_path / 'last_checkpoint'
    deadline = time.time() + 300
    while not (pointer.is_file() and pointer.read_text().strip().endswith('iter_2.pth')):
        assert child.poll() is None and time.time() < deadline, 'run ended before the kill'
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # mid-run: iterations 3..6 still to go
    child.wait()
    assert not (tmp_path / f'iter_{MAX_ITERS}.pth').exists()

    resumed = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path, '--resume',
                     *options)
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 0, iter: 2' in log or 'resumed epoch: 0, iter: 4' in log

    work, reference_log = uninterrupted
    final = f'iter_{MAX_ITERS}.pth'
    ours = torch.load(tmp_path / final, weights_only=True)['state_dict']
    theirs = torch.load(work / final, weights_only=True)['state_dict']
    assert ours.keys() == theirs.keys()
    different = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'
    assert final_val_metrics(log) == final_val_metrics(reference_log)
