import pytest
import torch
from mmdet.models.backbones import ResNet, ResNetV1d
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

from mmdet_cgd.models import CGD, CGDResNet, CGDResNetV1d
from mmdet_cgd.models.backbones import block_plugin_names

register_all_modules()
PAPER_CGD = [dict(cfg=dict(type='CGD'), position='before_norm1')]
STOCK_CGD = [dict(cfg=dict(type='CGD'), position='after_conv1')]
# 6 x the channels hosting CGD (the planes of each block): 6 * (64*3 + 128*4 + 256*6 + 512*3)
R50_CGD_PARAMS = 22_656


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def cgd_inputs_and_outputs(model, x):
    """Run ``model`` and record every CGD's input and output, by module name."""
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, (i[0], o)))
             for n, m in model.named_modules() if isinstance(m, CGD)]
    model(x)
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize('backbone_type,position', [
    ('ResNet', 'after_conv1'), ('CGDResNet', 'after_conv1'), ('CGDResNet', 'before_norm1')])
def test_r50_parameter_overhead_is_six_times_hosting_channels(backbone_type, position):
    plain = MODELS.build(dict(type=backbone_type, depth=50))
    with_cgd = MODELS.build(dict(type=backbone_type, depth=50,
                                 plugins=[dict(cfg=dict(type='CGD'), position=position)]))
    assert n_params(with_cgd) - n_params(plain) == R50_CGD_PARAMS


def test_stock_resnet_rejects_before_norm1_so_the_variant_is_needed():
    with pytest.raises(AssertionError):
        ResNet(depth=50, plugins=PAPER_CGD)


@pytest.mark.parametrize('backbone', [
    dict(type='ResNet', depth=50), dict(type='ResNetV1d', depth=50),
    dict(type='ResNeXt', depth=50, groups=32, base_width=4)])
def test_stock_backbones_take_cgd_after_conv1(backbone):
    model = MODELS.build(dict(backbone, plugins=STOCK_CGD))
    model.eval()  # mmdet's ResNet.train() returns None
    names = [n for n, m in model.named_modules() if isinstance(m, CGD)]
    assert len(names) == 16 and names[0] == 'layer1.0.cgd' and names[-1] == 'layer4.2.cgd'
    x = torch.randn(1, 3, 64, 64)
    seen = cgd_inputs_and_outputs(model, x)
    # stock after_conv1 runs after conv1, norm1 and ReLU
    block = model.layer2[1]
    block_in = model.layer2[0](model.layer1(model.maxpool(_stem(model, x))))
    expected_in = block.relu(block.norm1(block.conv1(block_in)))
    torch.testing.assert_close(seen['layer2.1.cgd'][0], expected_in)


def _stem(model, x):
    if model.deep_stem:
        return model.stem(x)
    return model.relu(model.norm1(model.conv1(x)))


@pytest.mark.parametrize('depth,hosting_channels', [
    (18, 64 * 2 + 128 * 2 + 256 * 2 + 512 * 2), (34, 64 * 3 + 128 * 4 + 256 * 6 + 512 * 3),
    (50, R50_CGD_PARAMS // 6)])
def test_paper_placement_for_basic_and_bottleneck_blocks(depth, hosting_channels):
    torch.manual_seed(0)
    model = CGDResNet(depth=depth, plugins=PAPER_CGD).eval()
    assert n_params(model) - n_params(ResNet(depth=depth)) == 6 * hosting_channels
    x = torch.randn(1, 3, 64, 64)
    seen = cgd_inputs_and_outputs(model, x)
    assert len(seen) == sum(model.stage_blocks)
    # conv1 -> CGD -> norm1 -> ReLU: CGD sees conv1's raw output
    block = model.layer3[1]
    block_in = model.layer3[0](model.layer2(model.layer1(model.maxpool(_stem(model, x)))))
    torch.testing.assert_close(seen['layer3.1.cgd'][0], block.conv1(block_in))
    # and the block equals a hand-written one with CGD before norm1
    out = block.relu(block.norm1(block.cgd(block.conv1(block_in))))
    if depth >= 50:
        out = block.relu(block.norm2(block.conv2(out)))
        out = block.norm3(block.conv3(out))
    else:
        out = block.norm2(block.conv2(out))
    torch.testing.assert_close(block(block_in), block.relu(out + block_in))


def test_state_dict_names_match_mmdet_resnet_and_load_unchanged():
    stock = ResNet(depth=50)
    model = CGDResNet(depth=50, plugins=PAPER_CGD)
    cgd_keys = {k for k in model.state_dict() if '.cgd.' in k}
    assert len(cgd_keys) == 16 * 6
    assert set(model.state_dict()) - cgd_keys == set(stock.state_dict())
    result = model.load_state_dict(stock.state_dict(), strict=False)
    assert set(result.missing_keys) == cgd_keys and not result.unexpected_keys


@pytest.mark.parametrize('depth', [18, 50])
def test_identity_cgd_leaves_the_pretrained_network_unchanged(depth):
    torch.manual_seed(0)
    stock = ResNet(depth=depth)
    stock.eval()
    model = CGDResNet(depth=depth, plugins=[
        dict(cfg=dict(type='CGD', identity_init=True), position='before_norm1')]).eval()
    model.load_state_dict(stock.state_dict(), strict=False)
    x = torch.randn(2, 3, 64, 48)
    for a, b in zip(model(x), stock(x)):
        assert torch.equal(a, b)


def test_forward_and_backward_reach_every_cgd():
    model = CGDResNet(depth=50, plugins=PAPER_CGD).train()
    outs = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [256, 512, 1024, 2048]
    sum(o.mean() for o in outs).backward()
    for name, p in model.named_parameters():
        if '.cgd.' in name:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_cgd_init_survives_backbone_init_weights():
    model = CGDResNet(depth=50, plugins=[
        dict(cfg=dict(type='CGD', identity_init=True), position='before_norm1')])
    model.init_weights()
    cgd = model.layer1[0].cgd
    assert torch.equal(cgd.w2, torch.zeros_like(cgd.w2))
    assert torch.equal(cgd.bias0, torch.zeros_like(cgd.bias0))
    assert cgd.w0.abs().max() <= (6 / (64 + 1))**0.5
    # mmdet's zero-init of the last norm (zero_init_residual) still applies to our blocks
    assert torch.equal(model.layer1[0].norm3.weight, torch.zeros(256))


def test_zero_init_residual_matches_stock_for_basic_blocks():
    model = CGDResNet(depth=18, plugins=PAPER_CGD)
    model.init_weights()
    assert torch.equal(model.layer2[1].norm2.weight, torch.zeros(128))


@pytest.mark.parametrize('freeze_plugins', [False, True])
def test_frozen_stages_keep_cgd_trainable_unless_asked(freeze_plugins):
    model = CGDResNet(depth=50, frozen_stages=1, plugins=PAPER_CGD, freeze_plugins=freeze_plugins)
    model.train()
    assert not model.layer1[0].conv1.weight.requires_grad
    assert not model.layer1[0].norm1.weight.requires_grad
    for block in model.layer1:
        assert all(p.requires_grad != freeze_plugins for p in block.cgd.parameters())
    assert all(p.requires_grad for p in model.layer2[0].cgd.parameters())
    assert model.layer2[0].conv1.weight.requires_grad


def test_stock_resnet_freezes_cgd_in_frozen_stages():
    """Documented: stock ResNet freezes everything in a frozen stage, CGD included."""
    model = ResNet(depth=50, frozen_stages=1, plugins=STOCK_CGD)
    model.train()
    assert not any(p.requires_grad for p in model.layer1[0].cgd.parameters())


def test_v1d_variant_has_deep_stem_and_paper_cgd():
    model = CGDResNetV1d(depth=50, plugins=PAPER_CGD)
    assert model.deep_stem and model.avg_down
    assert isinstance(model.layer4[2].cgd, CGD)
    assert set(model.state_dict()) - {k for k in model.state_dict() if '.cgd.' in k} == set(
        ResNetV1d(depth=50).state_dict())


@pytest.mark.parametrize('plugins,match', [
    ([dict(cfg=dict(type='CGD'), position='after_norm1')], r"one of \('before_norm1', "),
    ([dict(cfg=dict(type='CGD'))], 'got None'),
])
def test_unknown_position_is_a_clear_error(plugins, match):
    with pytest.raises(ValueError, match=match):
        CGDResNet(depth=50, plugins=plugins)


def test_basic_block_accepts_only_before_norm1():
    with pytest.raises(ValueError, match=r"BasicBlock takes plugins only at \('before_norm1',\), "
                                         r"got 'after_conv1'"):
        CGDResNet(depth=18, plugins=STOCK_CGD)


def test_two_plugins_of_one_type_need_a_postfix():
    with pytest.raises(ValueError, match='postfix'):
        CGDResNet(depth=18, plugins=PAPER_CGD * 2)
    model = CGDResNet(depth=18, plugins=[
        dict(cfg=dict(type='CGD', postfix='_a'), position='before_norm1'),
        dict(cfg=dict(type='CGD', postfix='_b'), position='before_norm1')])
    assert isinstance(model.layer1[0].cgd_b, CGD)


def test_stock_and_paper_positions_combine_in_one_bottleneck():
    model = CGDResNet(depth=50, plugins=PAPER_CGD + [
        dict(cfg=dict(type='ContextBlock', ratio=1 / 16), position='after_conv3',
             stages=(False, True, True, True))])
    block = model.layer2[0]
    assert block_plugin_names(block) == ['cgd', 'context_block']
    assert block.before_norm1_plugin_names == ['cgd']
    assert block.after_conv3_plugin_names == ['context_block']
    model(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize('depth', [18, 50])
def test_activation_checkpointing_gives_the_same_gradients(depth):
    torch.manual_seed(0)
    plain = CGDResNet(depth=depth, plugins=PAPER_CGD, norm_eval=True)
    with_cp = CGDResNet(depth=depth, plugins=PAPER_CGD, norm_eval=True, with_cp=True)
    with_cp.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 64, 64)
    grads = []
    for model in (plain, with_cp):
        model.train()
        sum(o.sum() for o in model(x)).backward()
        grads.append(model.layer2[0].cgd.w0.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)
