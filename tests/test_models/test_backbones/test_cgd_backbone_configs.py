"""The ResNeXt-101 and RegNetX-3.2GF CGD configs: build, train a step, predict, CGD decay 5e-5."""
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdet_cgd.models import CGD

CONFIG_DIR = Path(__file__).parents[3] / 'configs' / 'cgd'
register_all_modules()
# (config, backbone type, blocks, pretrained weights, weight decay of everything else)
CONFIGS = [
    ('faster-rcnn_x101-32x4d-cgd_fpn_1x_coco.py', 'CGDResNeXt', 3 + 4 + 23 + 3,
     'open-mmlab://resnext101_32x4d', 1e-4),
    ('mask-rcnn_regnetx-3.2GF-cgd_fpn_1x_coco.py', 'CGDRegNet', 2 + 6 + 15 + 2,
     'open-mmlab://regnetx_3.2gf', 5e-5),
]


def build(name):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cfg.model.backbone.init_cfg = None  # no downloads
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('name,backbone_type,n_blocks,weights,decay', CONFIGS)
def test_config_is_the_paper_placement_on_mmdets_imagenet_weights(name, backbone_type, n_blocks,
                                                                   weights, decay):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    backbone = cfg.model.backbone
    assert backbone.type == backbone_type and backbone.frozen_stages == 1
    assert backbone.plugins == [dict(cfg=dict(type='CGD', identity_init=True, inplace=True),
                                     position='before_norm1')]
    # strict: every key of the ImageNet weights must fit, CGD is declared new, the classifier unused
    assert backbone.init_cfg == dict(type='StrictPretrained', checkpoint=weights,
                                     new_keys=['.cgd.'], unused_keys=['fc.'])
    assert 'mmdet_cgd' in cfg.custom_imports['imports']


@pytest.mark.parametrize('name,backbone_type,n_blocks,weights,decay', CONFIGS)
def test_cgd_weight_decay_is_5e5_exactly(name, backbone_type, n_blocks, weights, decay):
    cfg, model = build(name)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    decay_of = {id(p): g['weight_decay'] for g in optimizer.param_groups for p in g['params']}
    n_cgd = 0
    for pname, p in model.named_parameters():
        if p.requires_grad and '.cgd.' in pname:
            n_cgd += 1
            assert decay_of[id(p)] == 5e-5, pname
        elif p.requires_grad and p.ndim > 1:  # weights (norms and biases may differ)
            assert decay_of[id(p)] == decay, pname
    assert n_cgd == 6 * n_blocks


@pytest.mark.parametrize('name,backbone_type,n_blocks,weights,decay', CONFIGS)
def test_config_trains_a_step_and_predicts_on_cpu(name, backbone_type, n_blocks, weights, decay):
    torch.manual_seed(0)
    _, model = build(name)
    cgds = [m for m in model.backbone.modules() if isinstance(m, CGD)]
    assert len(cgds) == n_blocks and all(c.inplace and c.identity_init for c in cgds)
    with_mask = 'mask' in name
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, 96, 128)], num_items=[3],
                            with_mask=with_mask)
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    assert ('loss_mask' in losses) == with_mask
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    assert torch.isfinite(total)
    total.backward()
    frozen_stage_cgd = model.backbone.layer1[0].cgd
    assert not model.backbone.layer1[0].conv1.weight.requires_grad
    assert frozen_stage_cgd.w2.requires_grad and frozen_stage_cgd.w2.grad is not None
    assert frozen_stage_cgd.w2.grad.abs().sum() > 0  # identity init, yet it learns
    model.eval()
    with torch.no_grad():
        [result] = model(**model.data_preprocessor(packed, False), mode='predict')
    assert result.pred_instances.bboxes.shape[-1] == 4
    assert ('masks' in result.pred_instances) == with_mask
