"""The backbones compared: plain ResNet-50, CGD in two placements and the other attention plugins,
each placed as mmdet's own configs place it."""
import copy
import warnings

from mmengine.config import Config

_CGD = dict(type='CGD', identity_init=True)  # same cost as the authors' init
VARIANTS = {
    'plain': dict(type='ResNet'),
    'CGD paper (before_norm1)': dict(
        type='CGDResNet', plugins=[dict(cfg=dict(_CGD, inplace=True), position='before_norm1')]),
    'CGD stock after_conv1': dict(
        type='ResNet', plugins=[dict(cfg=_CGD, position='after_conv1')]),
    # configs/gcnet/*r16-gcb-c3-c5*
    'GCNet r16 c3-c5': dict(type='ResNet', plugins=[dict(
        cfg=dict(type='ContextBlock', ratio=1. / 16), stages=(False, True, True, True),
        position='after_conv3')]),
    # configs/empirical_attention/*attn1111*
    'GenAttention 1111 c4-c5': dict(type='ResNet', plugins=[dict(
        cfg=dict(type='GeneralizedAttention', spatial_range=-1, num_heads=8,
                 attention_type='1111', kv_stride=2),
        stages=(False, False, True, True), position='after_conv2')]),
    # mmdet ships no Non-local backbone config; the NL paper adds it to res4/res5 for detection.
    # plugins= cannot pick single blocks, so: every res5 block, embedded Gaussian, reduction 2.
    'Non-local c5': dict(type='ResNet', plugins=[dict(
        cfg=dict(type='NonLocal2d', reduction=2, mode='embedded_gaussian'),
        stages=(False, False, False, True), position='after_conv3')]),
}


def backbone_cfg(variant: str) -> dict:
    cfg = dict(depth=50, norm_eval=False, init_cfg=None, **copy.deepcopy(VARIANTS[variant]))
    return cfg


DETECTORS = {'detector': 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
             'mask_rcnn': 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'}  # the paper's detector


def detector_cfg(variant: str, model: str = 'detector'):
    """mmdet's Faster R-CNN (``detector``) or Mask R-CNN (``mask_rcnn``) R50-FPN 1x with this
    backbone and no weight loading."""
    with warnings.catch_warnings():  # mmengine resolves mmdet:: through pkg_resources
        warnings.filterwarnings('ignore', 'pkg_resources is deprecated', UserWarning)
        base = Config.fromstring(f"_base_ = 'mmdet::{DETECTORS[model]}'", file_format='.py')
    model = base.model  # a ConfigDict: mmdet's detectors read train_cfg.rpn as attributes
    model.backbone.update(backbone_cfg(variant), frozen_stages=-1)
    return model
