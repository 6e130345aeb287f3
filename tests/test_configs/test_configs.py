"""Every config in configs/ builds its model on CPU, with weight loading switched off."""
from pathlib import Path

import pytest
import torch
from mmdet.models.layers import CSPLayer
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdet_cgd.models import CGD

CONFIG_DIR = Path(__file__).parents[2] / 'configs'
# configs/deploy holds mmdeploy's deploy configs (docs/deployment.md), no models
CONFIGS = sorted(p for p in CONFIG_DIR.rglob('*.py')
                 if '_base_' not in p.parts and p.parent.name != 'deploy')
register_all_modules()


def load_config(path) -> Config:
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.init_cfg = None  # no downloads, no checkpoint files
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def test_configs_exist():
    names = {p.name for p in CONFIGS}
    assert {'faster-rcnn_r50-cgd_fpn_1x_coco.py', 'mask-rcnn_r50-cgd_fpn_1x_coco.py'} <= names


def stage_blocks(backbone) -> list:
    """Blocks per stage, the stages a plugin's ``stages`` selects from."""
    if hasattr(backbone, 'res_layers'):  # the ResNet family
        return [len(getattr(backbone, name)) for name in backbone.res_layers]
    return [1] * len(backbone.layers)  # MobileNet v1: one block per stage


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_its_model(path):
    cfg = load_config(path)
    assert 'mmdet_cgd' in cfg.custom_imports['imports']
    model = MODELS.build(cfg.model)
    n_cgd = sum(isinstance(m, CGD) for m in model.modules())
    if cfg.model.backbone.get('attention_cfg'):  # CGDCSPNeXt: each CSP layer's attention
        assert n_cgd == sum(isinstance(m, CSPLayer) for m in model.backbone.modules()) > 0
        return
    plugins = cfg.model.backbone.get('plugins')
    if not plugins:  # the baselines (demo, plain MobileNet)
        assert n_cgd == 0 and 'cgd' not in path.name.split('_')[1]
        return
    backbone = model.backbone
    blocks_per_stage = stage_blocks(backbone)
    stages = plugins[0].get('stages') or [True] * len(blocks_per_stage)
    expected = sum(n for n, on in zip(blocks_per_stage, stages) if on)
    assert n_cgd == expected


def test_paper_configs_follow_the_paper_recipe():
    for name in ('faster-rcnn_r50-cgd_fpn_1x_coco.py', 'mask-rcnn_r50-cgd_fpn_1x_coco.py'):
        cfg = Config.fromfile(str(CONFIG_DIR / 'cgd' / name))
        bb = cfg.model.backbone
        assert bb.type == 'CGDResNet' and bb.depth == 50
        assert bb.plugins == [dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')]
        assert bb.init_cfg.type == 'StrictPretrained' and 'new_keys' not in bb.init_cfg
        assert cfg.optim_wrapper.optimizer.lr == 0.02
        assert cfg.auto_scale_lr.base_batch_size == 16
        assert cfg.train_cfg.max_epochs == 12
        [step] = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
        assert list(step.milestones) == [8, 11]


@pytest.mark.parametrize('path', [p for p in CONFIGS if p.parent.name in ('cgd', 'demo')],
                         ids=lambda p: p.stem)
def test_detection_configs_load_strictly_and_write_safely(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
    assert dict(type='WeightsOnlyCheckpointHook') in cfg.custom_hooks
    assert cfg.default_hooks.logger.type == 'MainProcessLoggerHook'
    init = cfg.model.backbone.init_cfg
    if init is None or 'checkpoint' not in init:  # trains from scratch (demo)
        return
    assert init.type == 'StrictPretrained'
    if cfg.model.backbone.get('attention_cfg'):  # CGD in place of the checkpoint's attention
        assert init.new_keys == ['.attention.w', '.attention.bias']
        assert init.unused_keys == ['.attention.fc.']
        return
    has_cgd_weights = init.checkpoint.startswith('checkpoints/cgd-')
    has_cgd = bool(cfg.model.backbone.get('plugins'))
    assert init.get('new_keys', []) == ([] if has_cgd_weights or not has_cgd else ['.cgd.'])


@pytest.mark.parametrize('name', ['faster-rcnn_r50-cgd_fpn_1x_coco.py',
                                  'mask-rcnn_r50-cgd-after-conv1-c3-c5_fpn_1x_coco.py'])
def test_cgd_weight_decay_is_5e5_and_the_rest_1e4(name):
    cfg = load_config(CONFIG_DIR / 'cgd' / name)
    model = MODELS.build(cfg.model)
    optim = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    decay = {}
    for group in optim.param_groups:
        for p in group['params']:
            decay[id(p)] = group['weight_decay']
    n_cgd = 0
    for pname, p in model.named_parameters():
        if not p.requires_grad:
            continue
        expected = 5e-5 if '.cgd.' in pname else 1e-4
        n_cgd += '.cgd.' in pname
        assert decay[id(p)] == pytest.approx(expected, rel=1e-12), pname
    assert n_cgd > 0


def test_faster_rcnn_with_cgd_runs_forward_and_backward_on_cpu():
    torch.manual_seed(0)
    cfg = load_config(CONFIG_DIR / 'cgd' / 'faster-rcnn_r50-cgd_fpn_1x_coco.py')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    packed = demo_mm_inputs(2, [[3, 128, 160], [3, 96, 128]], num_classes=80)
    data = model.data_preprocessor(packed, training=True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if '.cgd.' in n and p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, training=False), mode='predict')
    assert len(results) == 2 and hasattr(results[0], 'pred_instances')
