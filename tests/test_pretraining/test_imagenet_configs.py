"""configs/cgd_imagenet: the CGD authors' ImageNet recipe, on the paper detectors' backbone."""
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as CLS_MODELS

from mmdet_cgd.models import CGD

CONFIGS = Path(__file__).parents[2] / 'configs'
# each ImageNet config beside the paper detection config that takes its checkpoint
PAIRS = [('resnet50-cgd_8xb32_in1k.py', 'faster-rcnn_r50-cgd_fpn_1x_coco.py', 50),
         ('resnet101-cgd_8xb32_in1k.py', 'faster-rcnn_r101-cgd_fpn_1x_coco.py', 101)]
BLOCKS = {50: 16, 101: 33}


def imagenet_config(name: str) -> Config:
    return Config.fromfile(str(CONFIGS / 'cgd_imagenet' / name))


def build_classifier(cfg: Config):
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return CLS_MODELS.build(cfg.model)


def build_detection_backbone(name: str):
    """The backbone of a paper detection config, as it is before its checkpoint loads."""
    cfg = Config.fromfile(str(CONFIGS / 'cgd' / name))
    backbone = cfg.model.backbone
    backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DET_MODELS.build(backbone)


def test_r50_config_follows_the_authors_recipe():
    cfg = imagenet_config('resnet50-cgd_8xb32_in1k.py')
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.custom_imports.imports == ['mmdet_cgd']
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.momentum,
            optimizer.weight_decay) == ('SGD', 0.1, 0.9, 1e-4)
    assert cfg.optim_wrapper.paramwise_cfg == dict(custom_keys={'.cgd.': dict(decay_mult=0.4)})
    scheduler = cfg.param_scheduler  # one scheduler: no warm-up in the authors' recipe
    assert (scheduler.type, list(scheduler.milestones), scheduler.gamma,
            scheduler.by_epoch) == ('MultiStepLR', [31, 61, 81], 0.1, True)
    assert cfg.train_cfg.max_epochs == 101 and cfg.train_cfg.by_epoch
    assert cfg.train_dataloader.batch_size == 32 and cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.randomness.seed == 1234
    checkpoint = cfg.default_hooks.checkpoint
    assert (checkpoint.save_best, checkpoint.rule) == ('accuracy/top1', 'greater')
    assert cfg.default_hooks.logger.type == 'MainProcessLoggerHook'
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'PackInputs']
    assert cfg.train_dataloader.dataset.pipeline[1].scale == 224
    assert cfg.train_dataloader.dataset.pipeline[2].direction == 'horizontal'
    head = cfg.model.head
    assert head.num_classes == 1000 and head.loss.type == 'CrossEntropyLoss'
    assert not head.loss.get('label_smooth_val') and not cfg.model.get('train_cfg')


@pytest.mark.parametrize('imagenet, detection, depth', PAIRS, ids=['r50', 'r101'])
def test_classifier_backbone_is_the_paper_detection_backbone(imagenet, detection, depth):
    classifier = build_classifier(imagenet_config(imagenet))
    detection_backbone = build_detection_backbone(detection)
    assert type(classifier.backbone) is type(detection_backbone)
    assert classifier.backbone.depth == detection_backbone.depth == depth
    ours = classifier.backbone.state_dict()
    theirs = detection_backbone.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert sum(isinstance(m, CGD) for m in classifier.backbone.modules()) == BLOCKS[depth]
    assert all(f'layer1.0.cgd.{p}' in ours for p in ('w0', 'w1', 'w2', 'bias0', 'bias1', 'bias2'))


def test_cgd_decays_at_4e5_and_every_other_parameter_at_1e4():
    cfg = imagenet_config('resnet50-cgd_8xb32_in1k.py')
    classifier = build_classifier(cfg)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        optimizer = build_optim_wrapper(classifier, cfg.optim_wrapper).optimizer
    decay = {}
    for group in optimizer.param_groups:
        assert group['lr'] == 0.1 and group['momentum'] == 0.9
        for param in group['params']:
            assert id(param) not in decay, 'a parameter in two groups'
            decay[id(param)] = group['weight_decay']
    named = dict(classifier.named_parameters())
    assert len(decay) == len(named)
    for name, param in named.items():
        # BatchNorm weights, biases and the fc layer too: the authors exempt only CGD
        expected = 4e-5 if '.cgd.' in name else 1e-4
        assert decay[id(param)] == pytest.approx(expected, rel=1e-12), name
    assert sum('.cgd.' in n for n in named) == 6 * BLOCKS[50]
    assert decay[id(named['backbone.bn1.weight'])] == pytest.approx(1e-4, rel=1e-12)


def test_classifier_trains_from_scratch_as_the_authors_resnet():
    classifier = build_classifier(imagenet_config('resnet50-cgd_8xb32_in1k.py'))
    classifier.init_weights()
    classifier.train()
    backbone = classifier.backbone
    # BatchNorm learns its statistics (mmdet's default norm_eval=True would freeze them)
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.training and m.weight.requires_grad for m in norms)
    # no zero-initialised last norm in the blocks: every BatchNorm starts at weight 1
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in norms)
    # CGD at the authors' init (Xavier-uniform w, zero biases): not the identity
    for layer in (m for m in backbone.modules() if isinstance(m, CGD)):
        assert not layer.identity_init
        assert all(not torch.any(b) for b in (layer.bias0, layer.bias1, layer.bias2))
        assert all(torch.count_nonzero(w) == w.numel() for w in (layer.w0, layer.w1, layer.w2))
