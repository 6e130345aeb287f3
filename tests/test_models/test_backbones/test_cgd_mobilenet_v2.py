"""CGDMobileNetV2: mmdet's MobileNetV2 with CGD after the first conv of each inverted residual,
before its norm; one float64 training step equal to the explicit-equation reference at every
frozen_stages and norm_eval setting; stock weights load and an identity CGD changes nothing."""
import pytest
import torch
from mmdet.models.backbones import MobileNetV2
from test_cgd_mobilenet import calibrated, one_thread  # noqa: F401 (an autouse fixture)
from test_gradient_matrix import assert_same_gradients, randomize, with_explicit_cgd

from mmdet_cgd.models import CGD, CGDConfigError, CGDMobileNetV2

PAPER_CGD = [dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')]
# 8 to 80 channels; every stage an output: a stage's last norm, seen only through a linear
# 1x1 conv and a training BatchNorm, has an exactly-zero bias gradient (rounding noise)
TINY = dict(widen_factor=0.25, out_indices=tuple(range(8)))


def blocks(model):
    return [block for i in range(7) for block in getattr(model, f'layer{i + 1}')]


@pytest.mark.parametrize('norm_eval', [False, True], ids=['bn_train', 'norm_eval'])
@pytest.mark.parametrize('frozen_stages', range(-1, 8))
def test_training_step_matches_the_explicit_reference(frozen_stages, norm_eval, cgd_reference):
    torch.manual_seed(0)
    model = CGDMobileNetV2(plugins=PAPER_CGD, frozen_stages=frozen_stages, norm_eval=norm_eval,
                           **TINY).double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    calibrated(randomize(model), x)
    reference = with_explicit_cgd(model, cgd_reference).train()
    assert_same_gradients(model, reference, x)
    for i in range(1, frozen_stages + 1):
        layer = getattr(model, f'layer{i}')
        assert not any(p.requires_grad for n, p in layer.named_parameters() if '.cgd.' not in n)
    assert all(p.grad is not None for b in blocks(model) for p in b.cgd.parameters())


def test_cgd_sits_after_the_first_conv_before_its_norm():
    model = CGDMobileNetV2(plugins=PAPER_CGD, **TINY).train()
    assert len(blocks(model)) == 17 == sum(isinstance(m, CGD) for m in model.modules())
    seen = {}
    for i, block in enumerate(blocks(model)):
        first = block.expand_conv if block.with_expand_conv else block.depthwise_conv
        assert block.cgd.in_channels == first.conv.out_channels
        first.conv.register_forward_hook(lambda m, a, o, i=i: seen.update({(i, 'conv'): o}))
        block.cgd.register_forward_pre_hook(lambda m, a, i=i: seen.update({(i, 'in'): a[0]}))
        block.cgd.register_forward_hook(lambda m, a, o, i=i: seen.update({(i, 'cgd'): o}))
        first.bn.register_forward_pre_hook(lambda m, a, i=i: seen.update({(i, 'bn'): a[0]}))
    model(torch.randn(2, 3, 64, 64))
    for i in range(17):
        assert seen[(i, 'in')] is seen[(i, 'conv')] and seen[(i, 'bn')] is seen[(i, 'cgd')]
    # the first block has no expand conv: there CGD follows the depthwise conv
    assert not model.layer1[0].with_expand_conv and model.layer1[0].cgd.in_channels == 8


def test_stock_weights_load_and_identity_cgd_changes_nothing():
    torch.manual_seed(0)
    stock = MobileNetV2(**TINY)
    stock.init_weights()
    stock.eval()
    identity = [dict(cfg=dict(type='CGD', identity_init=True), position='before_norm1')]
    model = CGDMobileNetV2(plugins=identity, **TINY).eval()
    result = model.load_state_dict(stock.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert set(result.missing_keys) == {k for k in model.state_dict() if '.cgd.' in k}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for got, expected in zip(model(x), stock(x), strict=True):
            assert torch.equal(got, expected)


def test_stages_select_layers_and_bad_positions_are_refused():
    model = CGDMobileNetV2(plugins=[dict(PAPER_CGD[0], stages=(False, ) * 6 + (True, ))], **TINY)
    assert sum(isinstance(m, CGD) for m in model.modules()) == 1 and model.layer7[0].cgd
    with pytest.raises(CGDConfigError, match=r"position must be one of \('before_norm1',\)"):
        CGDMobileNetV2(plugins=[dict(cfg=dict(type='CGD'), position='after_conv1')])
    with pytest.raises(CGDConfigError, match=r'stages must give one bool per stage \(7\)'):
        CGDMobileNetV2(plugins=[dict(PAPER_CGD[0], stages=(True, ))])
