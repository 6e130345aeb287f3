"""configs/cgd_imagenet: the CGD authors' ImageNet recipe, on the paper detectors' backbone."""
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as CLS_MODELS
from mmpretrain.structures import DataSample

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


# mmdet's CSPNeXt-tiny pretraining with CGD as the attention, and the RTMDet config it feeds
CSPNEXT = 'cspnext-tiny-cgd_8xb256-rsb-a1-600e_in1k.py'
RTMDET = 'rtmdet_tiny-cgd_8xb32-300e_coco.py'


def test_cspnext_config_is_mmdets_recipe_with_cgd_as_the_attention():
    ours = imagenet_config(CSPNEXT)
    theirs = Config.fromstring(
        "_base_ = 'mmdet::rtmdet/classification/cspnext-tiny_8xb256-rsb-a1-600e_in1k.py'", '.py')
    for key in ('train_dataloader', 'val_dataloader', 'val_evaluator', 'param_scheduler',
                'train_cfg', 'auto_scale_lr'):
        assert ours[key] == theirs[key], key
    assert ours.optim_wrapper.optimizer == theirs.optim_wrapper.optimizer
    assert ours.default_scope == 'mmpretrain' and ours.model._scope_ == 'mmpretrain'
    assert ours.custom_imports.imports == ['mmdet_cgd']
    model, stock = dict(ours.model), dict(theirs.model)
    backbone, stock_backbone = dict(model.pop('backbone')), dict(stock.pop('backbone'))
    assert (model.pop('_scope_'), stock.pop('_scope_')) == ('mmpretrain', 'mmdet')
    assert model == stock  # neck, head, Mixup / CutMix
    assert (backbone.pop('type'), stock_backbone.pop('type')) == ('mmdet.CGDCSPNeXt',
                                                                  'mmdet.CSPNeXt')
    assert backbone.pop('attention_cfg') == dict(type='CGD', inplace=True)
    assert backbone == stock_backbone
    paramwise = dict(ours.optim_wrapper.paramwise_cfg)
    assert paramwise.pop('custom_keys') == {'.attention.w': dict(decay_mult=0.5),
                                            '.attention.bias': dict(decay_mult=0.0)}
    assert paramwise == theirs.optim_wrapper.paramwise_cfg


def test_cspnext_classifier_backbone_is_the_rtmdet_backbone_and_trains():
    cfg = imagenet_config(CSPNEXT)
    # as mmengine's Runner builds it: with the config's data_preprocessor (one-hot for Mixup)
    cfg.model.data_preprocessor = cfg.data_preprocessor
    classifier = build_classifier(cfg)
    detection_backbone = build_detection_backbone(RTMDET)
    assert type(classifier.backbone) is type(detection_backbone)
    ours, theirs = classifier.backbone.state_dict(), detection_backbone.state_dict()
    assert list(ours) == list(theirs) and all(ours[k].shape == theirs[k].shape for k in ours)
    layers = [m for m in classifier.backbone.modules() if isinstance(m, CGD)]
    assert len(layers) == 4 and 'stage4.2.attention.w0' in ours
    assert all(layer.inplace and not layer.identity_init for layer in layers)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        optimizer = build_optim_wrapper(classifier, cfg.optim_wrapper).optimizer
    decay = {id(p): g['weight_decay'] for g in optimizer.param_groups for p in g['params']}
    for name, param in classifier.named_parameters():
        if '.attention.w' in name:
            expected = 0.005  # half the recipe's 0.01
        elif '.attention.bias' in name or '.bn.' in name or name.endswith('.bias'):
            expected = 0.0  # as the recipe's norms and biases
        else:
            expected = 0.01
        assert decay[id(param)] == pytest.approx(expected, rel=1e-12), name
    torch.manual_seed(0)
    batch = dict(inputs=list(torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)),
                 data_samples=[DataSample().set_gt_label(i) for i in (3, 7)])
    classifier.train()  # one step: Mixup / CutMix, in-place CGD at the authors' init
    losses = classifier(**classifier.data_preprocessor(batch, training=True), mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert all(layer.w2.grad is not None and layer.w2.grad.abs().max() > 0 for layer in layers)
