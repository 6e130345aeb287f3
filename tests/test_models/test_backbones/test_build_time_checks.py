"""Our backbones refuse plugin mistakes when built, with our tools' pre-flight messages, so that
MODELS.build and mmdet's own tools stop with the same sentence (issue #18, case 5)."""
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope

from mmdet_cgd.cli.plugin_checks import check_backbone_plugins
from mmdet_cgd.utils import CGDConfigError

CGD = dict(type='CGD')
MISTAKES = {
    'in_channels given': (dict(type='CGDResNet', depth=50, plugins=[
        dict(cfg=dict(CGD, in_channels=64), position='before_norm1')]),
        'a plugin gets in_channels from its block; remove cfg.in_channels=64'),
    'MobileNet in_channels': (dict(type='CGDMobileNet', plugins=[
        dict(cfg=dict(CGD, in_channels=3), position='before_norm1')]),
        'a plugin gets in_channels from its block'),
    'unknown position': (dict(type='CGDResNet', depth=50, plugins=[
        dict(cfg=CGD, position='after_conv9')]), "position must be one of .*'after_conv9'"),
    'MobileNet stock position': (dict(type='CGDMobileNet', plugins=[
        dict(cfg=CGD, position='after_conv1')]),
        r"position must be one of \('before_norm1',\), got 'after_conv1'"),
    'in-place at a stock position': (dict(type='CGDResNet', depth=50, plugins=[
        dict(cfg=dict(CGD, inplace=True), position='after_conv2')]),
        "inplace=True is for 'before_norm1' only"),
    # issue #31, cases 1 and 2: mmdet ignores a key it does not read (CGD in every stage)
    'misspelt plugin key': (dict(type='CGDResNet', depth=50, plugins=[
        dict(cfg=CGD, stage=(False, True, True, True), position='before_norm1')]),
        r"a plugin has no key 'stage' \(did you mean 'stages'\?\)"),
    'MobileNet misspelt position key': (dict(type='CGDMobileNet', plugins=[
        dict(cfg=CGD, postion='before_norm1')]),
        r"a plugin has no key 'postion' \(did you mean 'position'\?\)"),
    'a string flag': (dict(type='CGDResNet', depth=50, plugins=[
        dict(cfg=dict(CGD, identity_init='no'), position='before_norm1')]),
        "CGD's identity_init must be True or False, got 'no'"),
}


@pytest.mark.parametrize('name', list(MISTAKES))
def test_models_build_gives_the_preflight_message(name):
    init_default_scope('mmdet')
    cfg, message = MISTAKES[name]
    with pytest.raises(CGDConfigError, match=message) as preflight:
        check_backbone_plugins(dict(backbone=cfg))
    with pytest.raises(CGDConfigError, match=message) as built:
        MODELS.build(cfg)
    assert isinstance(built.value, AssertionError)  # what mmdet code catches for plugin configs
    tail = str(preflight.value).split(': ', 1)[1]
    assert str(built.value).split(': ', 1)[1] == tail


def test_stock_res2net_plugins_fail_with_a_hint_at_our_backbone():
    """mmdet's Res2Net is mmdet's code: CGD can only say, at its first forward, what to use."""
    init_default_scope('mmdet')
    model = MODELS.build(dict(type='Res2Net', depth=50, plugins=[
        dict(cfg=CGD, position='after_conv1')]))
    model.eval()  # mmdet's ResNet.train returns None
    with pytest.raises(ValueError, match="in_channels=64 got an input with 104 channels.*"
                       "type='CGDRes2Net'"):
        model(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize('kind', ['CGDMobileNet', 'CGDResNet'])
def test_a_misspelt_plugin_type_is_named(kind):
    """Not mmcv's "Cannot find None in registry": the type the config gave."""
    init_default_scope('mmdet')
    extra = dict(depth=50) if kind == 'CGDResNet' else {}
    with pytest.raises(CGDConfigError, match="unknown plugin type 'CDG'"):
        MODELS.build(dict(type=kind, plugins=[dict(cfg=dict(type='CDG'),
                                                   position='before_norm1')], **extra))


def test_two_plugins_of_one_type_in_a_block_say_where_the_postfix_goes():
    init_default_scope('mmdet')
    plugins = [dict(cfg=dict(type='CGD'), position='before_norm1'),
               dict(cfg=dict(type='CGD'), position='after_conv3')]
    with pytest.raises(CGDConfigError, match=r"own postfix, inside its cfg \(cfg=dict"):
        MODELS.build(dict(type='CGDResNet', depth=50, plugins=plugins))
    plugins = [dict(p, cfg=dict(p['cfg'], postfix=str(i))) for i, p in enumerate(plugins)]
    model = MODELS.build(dict(type='CGDResNet', depth=50, plugins=plugins))
    assert hasattr(model.layer1[0], 'cgd0') and hasattr(model.layer1[0], 'cgd1')
