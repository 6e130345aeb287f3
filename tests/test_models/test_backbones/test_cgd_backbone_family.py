"""The before_norm1 position on every ResNet-family backbone mmdet ships, by one mechanism."""
import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from mmdet.models.backbones import RegNet, Res2Net, ResNeSt, ResNet, ResNetV1d, ResNeXt
from mmdet.models.layers import ExpMomentumEMA
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from torch_support import onnx_export_kwargs

from mmdet_cgd.models import (
    CGD,
    CGDConfigError,
    CGDRegNet,
    CGDRes2Net,
    CGDResNeSt,
    CGDResNet,
    CGDResNetV1d,
    CGDResNeXt,
)
from mmdet_cgd.models.backbones import CGD_VARIANTS, BeforeNorm1Mixin

register_all_modules()
IDENTITY_CGD = [dict(cfg=dict(type='CGD', identity_init=True), position='before_norm1')]
# (ours, stock, small build arguments)
FAMILY = [
    (CGDResNet, ResNet, dict(depth=18, base_channels=16)),
    (CGDResNet, ResNet, dict(depth=50, base_channels=16)),
    (CGDResNetV1d, ResNetV1d, dict(depth=50, base_channels=16)),
    (CGDResNeXt, ResNeXt, dict(depth=50, groups=4, base_width=8, base_channels=16)),
    (CGDRegNet, RegNet, dict(arch='regnetx_400mf')),
    (CGDResNeSt, ResNeSt, dict(depth=50, base_channels=16, stem_channels=16)),
    (CGDRes2Net, Res2Net, dict(depth=50, base_width=8, base_channels=16)),
]
IDS = [f'{ours.__name__}-{kw.get("depth", kw.get("arch"))}' for ours, _, kw in FAMILY]


def cgd_keys(model):
    return {k for k in model.state_dict() if '.cgd.' in k}


def test_one_variant_per_stock_backbone_all_registered():
    assert CGD_VARIANTS == {'ResNet': 'CGDResNet', 'ResNetV1d': 'CGDResNetV1d',
                            'ResNeXt': 'CGDResNeXt', 'RegNet': 'CGDRegNet',
                            'ResNeSt': 'CGDResNeSt', 'Res2Net': 'CGDRes2Net'}
    for name in CGD_VARIANTS.values():
        assert issubclass(MODELS.get(name), BeforeNorm1Mixin)


@pytest.mark.parametrize('ours,stock,kwargs', FAMILY, ids=IDS)
def test_stock_weights_load_and_identity_cgd_changes_nothing(ours, stock, kwargs):
    torch.manual_seed(0)
    reference = stock(**kwargs)
    reference.eval()  # mmdet's train() returns None
    model = ours(plugins=IDENTITY_CGD, **kwargs).eval()
    n_blocks = sum(len(getattr(model, n)) for n in model.res_layers)
    assert len(cgd_keys(model)) == 6 * n_blocks
    assert set(model.state_dict()) - cgd_keys(model) == set(reference.state_dict())
    result = model.load_state_dict(reference.state_dict(), strict=False)
    assert set(result.missing_keys) == cgd_keys(model) and not result.unexpected_keys
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for got, expected in zip(model(x), reference(x), strict=True):
            assert torch.equal(got, expected)  # the stock blocks' forward, unchanged


@pytest.mark.parametrize('ours,stock,kwargs', FAMILY, ids=IDS)
def test_cgd_sees_conv1_output_and_trains_in_frozen_stages(ours, stock, kwargs):
    torch.manual_seed(0)
    model = ours(plugins=[dict(cfg=dict(type='CGD'), position='before_norm1')],
                 frozen_stages=1, **kwargs).train()
    block = model.layer2[0]
    assert block.cgd.in_channels == block.conv1.out_channels
    seen = {}
    block.cgd.register_forward_hook(lambda m, i, o: seen.update(cgd_in=i[0]))
    block.conv1.register_forward_hook(lambda m, i, o: seen.update(conv1_in=i[0]))
    outs = model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(seen['cgd_in'], block.conv1._conv_forward(
        seen['conv1_in'], block.conv1.weight, block.conv1.bias))
    sum(o.sum() for o in outs).backward()
    assert not model.layer1[0].conv1.weight.requires_grad
    assert all(p.requires_grad and p.grad is not None for p in model.layer1[0].cgd.parameters())


@pytest.mark.parametrize('arch,depth', [('resnet50', 50), ('resnext50_32x4d', 50)])
def test_torchvision_imagenet_state_dict_loads_with_only_cgd_missing(arch, depth):
    import torchvision
    state = getattr(torchvision.models, arch)(weights=None).state_dict()
    extra = dict(groups=32, base_width=4) if 'resnext' in arch else {}
    model = (CGDResNeXt if extra else CGDResNet)(depth=depth, plugins=IDENTITY_CGD, **extra)
    result = model.load_state_dict(state, strict=False)
    assert set(result.missing_keys) == cgd_keys(model)
    assert set(result.unexpected_keys) == {'fc.weight', 'fc.bias'}


STOCK_POSITIONS_CGD = [dict(cfg=dict(type='CGD', postfix=f'_{i}'), position=f'after_conv{i}')
                       for i in (1, 2, 3)]


def test_stock_res2net_plugins_fail_where_ours_get_the_real_width():
    kwargs = dict(depth=50, base_width=8, base_channels=16)
    stock = Res2Net(plugins=STOCK_POSITIONS_CGD, **kwargs)
    with pytest.raises(ValueError, match='CGD built with in_channels=16 got an input with 32'):
        stock(torch.randn(1, 3, 64, 64))
    model = CGDRes2Net(plugins=IDENTITY_CGD + STOCK_POSITIONS_CGD, **kwargs).train()
    block = model.layer1[1]
    width = block.width * block.scales
    assert [block.cgd.in_channels, block.cgd_1.in_channels, block.cgd_2.in_channels,
            block.cgd_3.in_channels] == [width, width, width, block.conv3.out_channels]
    seen = {}
    block.cgd_2.register_forward_hook(lambda m, i, o: seen.update(x=i[0]))
    outs = model(torch.randn(2, 3, 64, 64))
    assert seen['x'].shape[1] == width
    sum(o.sum() for o in outs).backward()
    assert block.cgd_3.w0.grad is not None


@pytest.mark.parametrize('ours,stock,kwargs', FAMILY[1:], ids=IDS[1:])
def test_inplace_cgd_at_a_stock_position_is_refused_at_build(ours, stock, kwargs):
    for position in ('after_conv1', 'after_conv2', 'after_conv3'):
        plugin = dict(cfg=dict(type='CGD', inplace=True), position=position)
        with pytest.raises(CGDConfigError, match="inplace=True is for 'before_norm1' only"):
            ours(plugins=[plugin], **kwargs)


def test_errors_name_what_is_supported():
    bad_stages = dict(IDENTITY_CGD[0], stages=(True, False))
    with pytest.raises(CGDConfigError, match=r'stages must give one bool per stage \(4\)'):
        CGDResNet(depth=18, plugins=[bad_stages])
    # code written against mmdet catches AssertionError for bad plugin configs
    with pytest.raises(AssertionError):
        CGDResNeXt(depth=50, plugins=[dict(cfg=dict(type='CGD'), position='after_norm1')])


def test_stages_select_blocks_as_in_mmdet():
    model = CGDResNeXt(depth=50, groups=4, base_width=4, base_channels=16, plugins=[
        dict(IDENTITY_CGD[0], stages=(False, True, False, True))])
    has_cgd = [hasattr(getattr(model, n)[0], 'cgd') for n in model.res_layers]
    assert has_cgd == [False, True, False, True]


def test_deepcopy_for_ema_runs_the_copys_own_cgd():
    torch.manual_seed(0)
    model = CGDResNeXt(depth=50, groups=4, base_width=4, base_channels=16,
                       plugins=[dict(cfg=dict(type='CGD'), position='before_norm1')]).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        ema = ExpMomentumEMA(model).module  # mmdet's EMA deep-copies the model
        for block in ema.layer3:
            block.cgd.bias2.fill_(3.0)
        assert all(torch.equal(a, b) for a, b in zip(model(x), before))
        assert not torch.equal(ema(x)[2], before[2])
        assert torch.equal(ema(x)[0], before[0])  # layer1/2 CGDs untouched


def test_trace_and_onnx_export_run_the_hooks():
    torch.manual_seed(0)
    model = CGDRes2Net(depth=50, base_width=8, base_channels=16,
                       plugins=[dict(cfg=dict(type='CGD'), position='before_norm1')] +
                       STOCK_POSITIONS_CGD).eval()
    for p in model.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    x, other = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        traced = torch.jit.trace(model, (x, ))
        expected = model(other)
        # the traced graph pools with torch.mean/amax, eager on CPU with the one-read op: float32
        # sums that differ in the last bit, amplified ~100x by 16 perturbed blocks
        for got, ref in zip(traced(other), expected, strict=True):
            torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5 * ref.abs().max())
        buffer = io.BytesIO()
        torch.onnx.export(model, (x, ), buffer, input_names=['x'], **onnx_export_kwargs())
    outs = ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider']).run(
        None, {'x': other.numpy()})
    for got, ref in zip(outs, expected, strict=True):  # float32 kernels differ: relative to scale
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-5 * ref.abs().max())
    n_cgd = sum(isinstance(m, CGD) for m in model.modules())
    assert n_cgd == 4 * 16
