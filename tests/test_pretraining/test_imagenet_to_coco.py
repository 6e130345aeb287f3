"""From ImageNet to COCO with the users' own tools: mmpretrain's packaged train.py trains the
CGD-ResNet-50 config on a tiny ImageNet-format folder (CPU, a few steps), then the paper detection
configs take its best checkpoint as their backbone weights, unconverted."""
import os
import subprocess
import sys
from pathlib import Path

import mmpretrain
import numpy as np
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmdet_cgd.checkpoint import load_checkpoint_file

REPO = Path(__file__).parents[2]
IMAGENET_CONFIG = REPO / 'configs' / 'cgd_imagenet' / 'resnet50-cgd_8xb32_in1k.py'
PAPER_CONFIGS = ['faster-rcnn_r50-cgd_fpn_1x_coco.py', 'mask-rcnn_r50-cgd_fpn_1x_coco.py']
TRAIN_PY = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'train.py'
WNIDS = ('n01440764', 'n01443537')  # ImageNet's first two classes, labels 0 and 1
IMAGE_SIZE, CROP = 40, 32  # tiny images keep a ResNet-50 step cheap on a CPU
TRAIN_STEPS = 2  # 2 images per class, batch 2, one epoch


def write_tiny_imagenet(root: Path, per_class: int = 2) -> Path:
    """mmpretrain's ImageNet layout: train/<wnid>/*.JPEG, a flat val/, meta/{train,val}.txt."""
    rng = np.random.default_rng(0)
    lines = {'train': [], 'val': []}

    def write(split, name, label):
        path = root / split / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, format='JPEG')
        lines[split].append(f'{name} {label}')

    for label, wnid in enumerate(WNIDS):
        for i in range(per_class):
            write('train', f'{wnid}/{wnid}_{i}.JPEG', label)
        write('val', f'ILSVRC2012_val_{label + 1:08d}.JPEG', label)
    (root / 'meta').mkdir()
    for split, entries in lines.items():
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(entries) + '\n')
    return root


def train_classifier(data_root: Path, work_dir: Path) -> subprocess.CompletedProcess:
    """``python <mmpretrain>/.mim/tools/train.py CONFIG``: only data and sizes overridden."""
    options = [f'{split}_dataloader.{key}={value}' for split in ('train', 'val')
               for key, value in (('dataset.data_root', data_root), ('batch_size', 2),
                                  ('num_workers', 0))]
    options += [f'train_dataloader.dataset.pipeline.1.scale={CROP}',
                f'val_dataloader.dataset.pipeline.1.scale={IMAGE_SIZE}',
                f'val_dataloader.dataset.pipeline.2.crop_size={CROP}',
                'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1']
    command = [sys.executable, str(TRAIN_PY), str(IMAGENET_CONFIG), '--work-dir', str(work_dir),
               '--no-persistent-workers', '--no-pin-memory', '--cfg-options', *options]
    # one thread: the tensors are tiny and the test may share its cores
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run(command, cwd=work_dir.parent, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope='module')
def best_checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('pretraining')
    data_root = write_tiny_imagenet(root / 'imagenet')
    work_dir = root / 'work_dir'
    work_dir.mkdir()
    result = train_classifier(data_root, work_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    best = sorted(work_dir.glob('best_accuracy_top1_epoch_*.pth'))
    assert len(best) == 1, f'expected one best checkpoint in {sorted(work_dir.iterdir())}'
    return best[0]


def classifier_backbone(checkpoint: Path) -> dict:
    state = load_checkpoint_file(str(checkpoint))['state_dict']  # weights_only=True
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


def test_pretraining_trains_the_cgd_resnet_and_keeps_the_best_top1(best_checkpoint):
    backbone = classifier_backbone(best_checkpoint)
    assert sum('.cgd.' in k for k in backbone) == 6 * 16
    # BatchNorm trained (norm_eval=False): statistics moved from their init of mean 0, var 1
    assert int(backbone['layer1.0.bn1.num_batches_tracked']) == TRAIN_STEPS
    assert not torch.allclose(backbone['layer4.2.bn3.running_var'],
                              torch.ones_like(backbone['layer4.2.bn3.running_var']))


def test_latest_checkpoint_loads_as_resume_loads_it(best_checkpoint):
    # mmengine's resume calls torch.load without weights_only: True by default since torch 2.6
    latest = torch.load(best_checkpoint.parent / 'epoch_1.pth', map_location='cpu',
                        weights_only=True)
    assert {'state_dict', 'optimizer', 'param_schedulers', 'message_hub'} <= set(latest)
    assert latest['meta']['epoch'] == 1 and latest['meta']['seed'] == 1234


@pytest.mark.parametrize('name', PAPER_CONFIGS)
def test_paper_detector_starts_from_the_classifier_checkpoint(name, best_checkpoint):
    cfg = Config.fromfile(str(REPO / 'configs' / 'cgd' / name))
    # what --cfg-options model.backbone.init_cfg.checkpoint=PATH does to the config
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(best_checkpoint)})
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
    detector.init_weights()
    expected = classifier_backbone(best_checkpoint)
    loaded = detector.backbone.state_dict()
    assert sorted(loaded) == sorted(expected)
    mismatched = [k for k, v in loaded.items() if not torch.equal(v, expected[k])]
    assert not mismatched, f'{len(mismatched)} tensors differ: {mismatched[:5]}'


def test_r101_detector_refuses_the_r50_classifier_checkpoint(best_checkpoint):
    cfg = Config.fromfile(str(REPO / 'configs' / 'cgd' / 'faster-rcnn_r101-cgd_fpn_1x_coco.py'))
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(best_checkpoint)})
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
    with pytest.raises(RuntimeError, match='missing'):  # R101's extra layer3 blocks
        detector.init_weights()
