"""From ImageNet to SSD: mmpretrain's packaged train.py trains the CGD-MobileNet config one step
on a tiny ImageNet-format folder (CPU), then the MobileNet-SSD300 configs take its best checkpoint
as their backbone, strictly and unconverted; and the ImageNet configs follow the authors' recipe."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as CLS_MODELS
from test_imagenet_to_coco import TRAIN_PY, write_tiny_imagenet

from mmdet_cgd.checkpoint import load_checkpoint_file

REPO = Path(__file__).parents[2]
IMAGENET = REPO / 'configs' / 'cgd_imagenet'
SSD = REPO / 'configs' / 'cgd'
PAIRS = [('mobilenet-cgd_8xb32_in1k.py', 'ssd300_mobilenet-cgd_coco.py'),
         ('mobilenet_8xb32_in1k.py', 'ssd300_mobilenet_voc0712.py')]


def build(path: Path, registry, scope: str, **backbone):
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.update(backbone)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg.model)


@pytest.mark.parametrize('imagenet, ssd', PAIRS, ids=['cgd', 'plain'])
def test_classifier_backbone_has_every_key_of_the_ssd_backbone(imagenet, ssd):
    classifier = build(IMAGENET / imagenet, CLS_MODELS, 'mmpretrain')
    detector = build(SSD / ssd, DET_MODELS, 'mmdet', init_cfg=None)
    ours, theirs = classifier.backbone.state_dict(), detector.backbone.state_dict()
    assert list(ours) == list(theirs) and all(ours[k].shape == theirs[k].shape for k in ours)
    assert sum('.cgd.' in k for k in ours) == (6 * 13 if 'cgd' in imagenet else 0)
    # stem stride 2 for ImageNet (the paper's 0.569 GMACs), 1 for SSD (blocks 10/12 at 8/16)
    assert (classifier.backbone.stem_stride, detector.backbone.stem_stride) == (2, 1)


def test_imagenet_config_follows_the_authors_recipe():
    cfg = Config.fromfile(str(IMAGENET / 'mobilenet-cgd_8xb32_in1k.py'))
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
        'SGD', 0.1, 0.9, 4e-5)
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # CGD decays at 4e-5 too
    scheduler = cfg.param_scheduler
    assert (scheduler.type, list(scheduler.milestones), scheduler.gamma) == (
        'MultiStepLR', [31, 61], 0.1)
    assert cfg.train_cfg.max_epochs == 91 and cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.train_dataloader.batch_size == 32 and not cfg.model.backbone.norm_eval


@pytest.fixture(scope='module')
def best_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('mobilenet_pretraining')
    data_root = write_tiny_imagenet(root / 'imagenet', per_class=1)
    work_dir = root / 'work_dir'
    work_dir.mkdir()
    options = [f'{split}_dataloader.{key}={value}' for split in ('train', 'val')
               for key, value in (('dataset.data_root', data_root), ('batch_size', 2),
                                  ('num_workers', 0))]
    options += ['train_dataloader.dataset.pipeline.1.scale=32',
                'val_dataloader.dataset.pipeline.1.scale=40',
                'val_dataloader.dataset.pipeline.2.crop_size=32', 'train_cfg.max_epochs=1']
    command = [sys.executable, str(TRAIN_PY), str(IMAGENET / 'mobilenet-cgd_8xb32_in1k.py'),
               '--work-dir', str(work_dir), '--no-persistent-workers', '--no-pin-memory',
               '--cfg-options', *options]
    result = subprocess.run(command, cwd=root, env=dict(os.environ, OMP_NUM_THREADS='1'),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (best, ) = work_dir.glob('best_accuracy_top1_epoch_*.pth')
    return best


def test_ssd_starts_from_the_classifier_checkpoint_with_no_key_missing(best_checkpoint):
    state = load_checkpoint_file(str(best_checkpoint))['state_dict']  # weights_only=True
    expected = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    assert int(expected['layers.0.bn1.num_batches_tracked']) == 1  # it trained one step
    # what --cfg-options model.backbone.init_cfg.checkpoint=PATH does; StrictPretrained raises
    # on any missing, unexpected or misshapen key
    detector = build(SSD / 'ssd300_mobilenet-cgd_coco.py', DET_MODELS, 'mmdet',
                     init_cfg=dict(type='StrictPretrained', checkpoint=str(best_checkpoint)))
    detector.init_weights()
    loaded = detector.backbone.state_dict()
    assert sorted(loaded) == sorted(expected)
    assert all(torch.equal(v, expected[k]) for k, v in loaded.items())
