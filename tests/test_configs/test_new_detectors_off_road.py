"""CGDCSPNeXt and the RTMDet CGD configs used off the paved road (#32): in mmdet's other
CSPNeXt detectors, with other attention layers and mistakes in ``attention_cfg``, under mmcv's
``fuse_conv_bn``, through mmdet's ``DetInferencer``, and given the other RTMDet's checkpoint."""
import copy
from pathlib import Path

import pytest
import torch
from mmcv.cnn import fuse_conv_bn
from mmdet.apis import DetInferencer
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from synthetic_coco import CLASSES
from test_metafile import load_mmdet_config

from mmdet_cgd.apis import load_detector
from mmdet_cgd.checkpoint import CheckpointMismatchError
from mmdet_cgd.cli.plugin_checks import check_backbone_plugins
from mmdet_cgd.cli.train import parse_args, prepare_config
from mmdet_cgd.models import CGD, CGDConfigError

REPO = Path(__file__).parents[2]
TINY = REPO / 'configs' / 'cgd' / 'rtmdet_tiny-cgd_8xb32-300e_coco.py'
IMAGENET = REPO / 'configs' / 'cgd_imagenet' / 'cspnext-tiny-cgd_8xb256-rsb-a1-600e_in1k.py'


@pytest.mark.parametrize('option, message', [
    pytest.param('model.backbone.attention_cfg.identiy_init=True',
                 "model.backbone.attention_cfg: CGD has no option 'identiy_init' "
                 r"\(did you mean 'identity_init'\?\); its options: backend, identity_init, "
                 'inplace', id='misspelt_key'),
    pytest.param('model.backbone.attention_cfg.type=CGDD',
                 "model.backbone.attention_cfg: no plugin layer type 'CGDD' is registered; "
                 r"did you mean 'CGD'\?", id='unregistered_type'),
    # the config's CGD options stay in the merged dict: mmcv's ContextBlock takes neither
    pytest.param('model.backbone.attention_cfg.type=ContextBlock',
                 "ContextBlock has no option 'identity_init', 'inplace'; its options: "
                 'fusion_types, pooling_type, ratio', id='other_layers_options'),
])
def test_attention_cfg_mistakes_stop_our_tools_before_the_build(option, message):
    """As a plugin's cfg: one ``error:`` line naming the key, not a traceback at the build."""
    args = parse_args([str(TINY), '--skip-data-check', '--cfg-options', option])
    with pytest.raises(CGDConfigError, match=message):
        prepare_config(args)


def test_other_attention_layers_and_the_imagenet_config_pass_the_checks():
    check_backbone_plugins(dict(backbone=dict(type='CGDCSPNeXt', attention_cfg=dict(
        type='ContextBlock', ratio=0.25))))
    check_backbone_plugins(dict(backbone=dict(type='CGDCSPNeXt', attention_cfg=None)))
    with pytest.raises(CGDConfigError, match='ContextBlock needs ratio'):
        check_backbone_plugins(dict(backbone=dict(type='CGDCSPNeXt',
                                                  attention_cfg=dict(type='ContextBlock'))))
    imagenet = Config.fromfile(str(IMAGENET))  # mmpretrain's scope, 'mmdet.CGDCSPNeXt'
    check_backbone_plugins(imagenet.model, imagenet.default_scope)
    imagenet.model.backbone.attention_cfg.inplce = True
    with pytest.raises(CGDConfigError, match=r"'inplce' \(did you mean 'inplace'\?\)"):
        check_backbone_plugins(imagenet.model, imagenet.default_scope)


def detector(base: str, **backbone):
    cfg = load_mmdet_config(base)
    cfg.model.backbone.update(type='CGDCSPNeXt', init_cfg=None, **backbone)
    cfg.model.bbox_head.num_classes = len(CLASSES)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('base, masks', [('mmdet::rtmdet/rtmdet_m_8xb32-300e_coco', False),
                                         ('mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco', True)],
                         ids=['rtmdet_m', 'rtmdet-ins_tiny'])
def test_mmdets_other_rtmdets_take_cgd_by_the_backbone_type_alone(base, masks):
    torch.manual_seed(0)
    model = detector(base, attention_cfg=dict(type='CGD', identity_init=True, inplace=True))
    model.init_weights()  # CSPNeXt's Kaiming init touches convs only: CGD stays the identity
    layers = [m for m in model.backbone.modules() if isinstance(m, CGD)]
    assert len(layers) == 4 and all(not layer.w2.any() for layer in layers)
    packed = demo_mm_inputs(2, [[3, 64, 64]] * 2, num_items=[2, 2], num_classes=len(CLASSES),
                            with_mask=masks)
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    model.parse_losses(losses)[0].backward()  # as mmengine's optimizer step sums them
    assert all(layer.w2.grad.abs().max() > 0 for layer in layers)
    with torch.no_grad():
        results = model.eval()(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2 and ('masks' in results[0].pred_instances) == masks


def test_fuse_conv_bn_keeps_cgd_cspnexts_outputs():
    """docs/usage.md: mmcv's fuse_conv_bn keeps every CGD backbone's outputs."""
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='CGDCSPNeXt', deepen_factor=0.167, widen_factor=0.125,
                                 out_indices=(1, 2, 3, 4))).eval()
    for module in backbone.modules():
        if isinstance(module, CGD):
            torch.nn.init.uniform_(module.bias2, -0.5, 0.5)  # CGD not the identity
        elif isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, fused = backbone(x), fuse_conv_bn(copy.deepcopy(backbone))(x)
    for got, want in zip(fused, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """(stock, cgd, cgd_config): weights of mmdet's RTMDet-tiny and of ours, 5 classes."""
    root = tmp_path_factory.mktemp('rtmdet_checkpoints')
    cgd_config = Config.fromfile(str(TINY))
    cgd_config.model.bbox_head.num_classes = len(CLASSES)
    stock_config = load_mmdet_config('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco')
    stock_config.model.bbox_head.num_classes = len(CLASSES)
    paths = []
    for name, cfg in (('stock', stock_config), ('cgd', cgd_config)):
        torch.manual_seed(0)
        model = MODELS.build(dict(cfg.model, backbone=dict(cfg.model.backbone, init_cfg=None)))
        model.init_weights()  # the head's score prior: random weights that detect
        paths.append(root / f'{name}.pth')
        torch.save(dict(state_dict=model.state_dict()), paths[-1])
    return *paths, cgd_config, stock_config


def test_a_stock_rtmdet_checkpoint_and_a_cgd_one_refuse_each_other(checkpoints):
    stock, cgd, cgd_config, stock_config = checkpoints
    with pytest.raises(CheckpointMismatchError) as error:
        load_detector(cgd_config, str(stock))
    assert "24 missing: ['backbone.stage1.1.attention.bias0'" in str(error.value)
    assert "8 unexpected: ['backbone.stage1.1.attention.fc.bias'" in str(error.value)
    with pytest.raises(CheckpointMismatchError, match="8 missing: .'backbone.stage1.1.attention"
                                                      r"\.fc\.bias'.*24 unexpected"):
        load_detector(stock_config, str(cgd))


def test_mmdets_det_inferencer_runs_the_cgd_config_with_its_checkpoint(checkpoints, tiny_coco):
    _, cgd, cgd_config, _ = checkpoints
    inferencer = DetInferencer(model=cgd_config, weights=str(cgd), device='cpu',
                               show_progress=False)
    assert sum(isinstance(m, CGD) for m in inferencer.model.modules()) == 4
    expected = load_detector(cgd_config, str(cgd)).state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in inferencer.model.state_dict().items())
    image = sorted((tiny_coco / 'val').glob('*'))[0]
    predictions = inferencer(str(image), no_save_pred=True)['predictions'][0]
    assert len(predictions['bboxes']) == len(predictions['scores']) > 0


def test_the_runtime_hook_refuses_a_stock_checkpoint_under_mmdets_tools_too(checkpoints):
    """mmengine loads ``load_from`` with strict=False and only logs a misfit: mmdet's test.py
    would evaluate the CGD config with CGD as built. Our runtime's hook refuses it as it loads."""
    from types import SimpleNamespace

    from mmdet.models.test_time_augs import DetTTAModel

    from mmdet_cgd.engine import CheckpointCheckHook
    stock, cgd, cgd_config, _ = checkpoints
    model = MODELS.build(dict(cgd_config.model,
                              backbone=dict(cgd_config.model.backbone, init_cfg=None)))
    for runner_model in (model, DetTTAModel(module=model)):  # also under --tta
        runner = SimpleNamespace(model=runner_model, _load_from=str(stock))
        with pytest.raises(CheckpointMismatchError, match=r"stock.pth' does not fit the model "
                                                          r'\(24 missing: .*8 unexpected'):
            CheckpointCheckHook().after_load_checkpoint(runner, torch.load(stock))
        runner._load_from = str(cgd)
        CheckpointCheckHook().after_load_checkpoint(runner, torch.load(cgd))


def test_our_tools_add_the_checkpoint_check_to_a_config_without_it(tmp_path):
    from mmdet_cgd.cli.common import check_tool_config
    cfg = Config(dict(model=dict(type='RetinaNet', backbone=dict(type='ResNet', depth=50))))
    check_tool_config(cfg, (), check_data=False)
    assert cfg.custom_hooks == [dict(type='CheckpointCheckHook')]
