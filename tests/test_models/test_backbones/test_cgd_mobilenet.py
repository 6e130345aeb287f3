"""CGDMobileNet: the authors' placement (depthwise conv -> CGD -> BN), a faithful plain MobileNet
v1, one float64 training step equal to the explicit-equation reference at every frozen_stages and
norm_eval setting, and its FLOPs and parameters against the paper's table."""
import pytest
import torch
from mmengine.analysis import FlopAnalyzer
from test_gradient_matrix import assert_same_gradients, randomize, with_explicit_cgd
from torch import nn

from mmdet_cgd.models import CGD, CGDConfigError, CGDMobileNet

PAPER_CGD = [dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')]
# 4 to 128 channels; stem stride 1 keeps the last blocks at 2x2 on a 32x32 input (at 1x1 a
# training BatchNorm over 2 values leaves the gradients before it at rounding noise)
TINY = dict(widen_factor=0.125, stem_stride=1, out_indices=(4, 10, 12))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread, or the test waits on threads that share 2 cores with others."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def calibrated(model, x):
    """``model`` with running statistics of ``x``'s batch, so that eval-mode norms (frozen
    stages, norm_eval) keep activations at the scale training-mode ones do."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.train()
        m.momentum = None  # a cumulative average: one batch sets the statistics
    with torch.no_grad():
        model(x)
    for m in norms:
        m.momentum = 0.1
    return model.train()


class Classifier(nn.Module):
    """Backbone + global average pooling + fc, the network of the paper's ImageNet table."""

    def __init__(self, **kwargs):
        super().__init__()
        self.backbone = CGDMobileNet(**kwargs)
        self.fc = nn.Linear(1024, 1000)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


@pytest.mark.parametrize('norm_eval', [False, True], ids=['bn_train', 'norm_eval'])
@pytest.mark.parametrize('frozen_stages', range(-1, 14))
def test_training_step_matches_the_explicit_reference(frozen_stages, norm_eval, cgd_reference):
    torch.manual_seed(0)
    model = CGDMobileNet(plugins=PAPER_CGD, frozen_stages=frozen_stages, norm_eval=norm_eval,
                         **TINY).double()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    calibrated(randomize(model), x)
    reference = with_explicit_cgd(model, cgd_reference).train()
    assert_same_gradients(model, reference, x)
    frozen = [model.conv1, model.norm1, *model.layers[:max(frozen_stages, 0)]]
    for module in frozen if frozen_stages >= 0 else []:
        params = [p for n, p in module.named_parameters() if '.cgd.' not in f'.{n}']
        assert not any(p.requires_grad for p in params)
        assert not any(m.training for m in module.modules() if isinstance(m, nn.BatchNorm2d))
    # CGD inserted in a frozen block keeps learning (freeze_plugins=False)
    assert all(p.requires_grad and p.grad is not None for block in model.layers
               for p in block.cgd.parameters())
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    training = norm_eval or frozen_stages == 13
    assert all(not m.training for m in norms) if training else any(m.training for m in norms)


@pytest.mark.parametrize('inplace', [False, True], ids=['copy', 'inplace'])
def test_with_cp_matches_the_reference(inplace, cgd_reference):
    plugins = [dict(cfg=dict(type='CGD', inplace=inplace), position='before_norm1')]
    torch.manual_seed(0)
    model = randomize(CGDMobileNet(plugins=plugins, with_cp=True, **TINY).double()).train()
    reference = with_explicit_cgd(model, cgd_reference).train()
    assert_same_gradients(model, reference, torch.randn(2, 3, 32, 32, dtype=torch.float64))


def test_every_cgd_sits_between_a_depthwise_conv_and_its_norm():
    model = CGDMobileNet(plugins=PAPER_CGD, **TINY).train()
    seen = {}
    for i, block in enumerate(model.layers):
        assert block.conv1.groups == block.conv1.in_channels == block.cgd.in_channels
        assert block.conv1.kernel_size == (3, 3) and block.conv2.kernel_size == (1, 1)
        block.conv1.register_forward_hook(lambda m, a, o, i=i: seen.update({(i, 'conv'): o}))
        block.cgd.register_forward_pre_hook(lambda m, a, i=i: seen.update({(i, 'in'): a[0]}))
        block.cgd.register_forward_hook(lambda m, a, o, i=i: seen.update({(i, 'cgd'): o}))
        block.bn1.register_forward_pre_hook(lambda m, a, i=i: seen.update({(i, 'bn'): a[0]}))
    model(torch.randn(2, 3, 32, 32))
    for i in range(13):
        assert seen[(i, 'in')] is seen[(i, 'conv')] and seen[(i, 'bn')] is seen[(i, 'cgd')]
    assert sum(isinstance(m, CGD) for m in model.modules()) == 13


def test_plain_variant_is_mobilenet_v1_with_the_authors_names():
    plain = Classifier()
    assert not any(isinstance(m, CGD) for m in plain.modules())
    assert sum(p.numel() for p in plain.parameters()) == 4_231_976  # the paper's 4.23M
    keys = list(plain.backbone.state_dict())
    assert keys[:2] == ['conv1.weight', 'bn1.weight'] and 'layers.12.bn2.running_var' in keys
    widths = [(b.conv1.in_channels, b.conv2.out_channels, b.conv1.stride[0])
              for b in plain.backbone.layers]
    assert widths[0] == (32, 64, 1) and widths[11] == (512, 1024, 2) and widths[12][:2] == (
        1024, 1024)
    assert [s for _, _, s in widths].count(2) == 4
    with torch.no_grad():
        assert plain.backbone.eval()(torch.randn(1, 3, 224, 224))[0].shape == (1, 1024, 7, 7)
    cgd = CGDMobileNet(plugins=PAPER_CGD)
    assert set(cgd.state_dict()) - set(plain.backbone.state_dict()) == {
        f'layers.{i}.cgd.{p}' for i in range(13)
        for p in ('w0', 'w1', 'w2', 'bias0', 'bias1', 'bias2')}
    # the authors' 0.7x file: stem 22, blocks 45 ... 717
    slim = CGDMobileNet(widen_factor=0.7)
    assert slim.conv1.out_channels == 22 and slim.layers[12].conv2.out_channels == 717


def test_bad_settings_say_what_is_expected():
    with pytest.raises(CGDConfigError, match=r'frozen_stages must be in -1..13 .* got 14'):
        CGDMobileNet(frozen_stages=14)
    with pytest.raises(CGDConfigError, match=r'out_indices must be block indices in 0..12'):
        CGDMobileNet(out_indices=(13, ))
    with pytest.raises(CGDConfigError, match=r"position must be one of \('before_norm1',\)"):
        CGDMobileNet(plugins=[dict(cfg=dict(type='CGD'), position='after_conv1')])
    with pytest.raises(CGDConfigError, match=r'stages must give one bool per stage \(13\)'):
        CGDMobileNet(plugins=[dict(PAPER_CGD[0], stages=(True, False))])
    with pytest.raises(CGDConfigError, match='stem_stride must be 2'):
        CGDMobileNet(stem_stride=4)


def macs(model, size=224):
    """mmengine's FlopAnalyzer (what get_flops prints) per operator, in MACs."""
    analyzer = FlopAnalyzer(model.eval(), (torch.randn(1, 3, size, size), ))
    analyzer.unsupported_ops_warnings(False)
    return analyzer.by_operator()


def test_flops_and_parameters_against_the_papers_table():
    """Paper: MobileNet 4.23M parameters, 0.569 GMACs; + CGD +0.03M parameters, +0.030M MACs."""
    rows = {}
    for stem_stride in (2, 1):
        for plugins in (None, PAPER_CGD):
            model = Classifier(stem_stride=stem_stride, plugins=plugins)
            by_op = macs(model)
            rows[stem_stride, bool(plugins)] = dict(
                params=sum(p.numel() for p in model.parameters()),
                conv_fc=by_op['conv'] + by_op['linear'], total=sum(by_op.values()))
    for (stride, cgd), row in rows.items():
        print(f"stem stride {stride}, CGD {cgd}: {row['params'] / 1e6:.3f}M parameters, "
              f"{row['conv_fc'] / 1e9:.4f} GMACs conv+fc, {row['total'] / 1e9:.4f} G all counted")
    plain, with_cgd = rows[2, False], rows[2, True]
    assert plain['params'] == 4_231_976 and abs(plain['conv_fc'] / 0.569e9 - 1) < 0.001
    assert rows[1, False]['conv_fc'] / plain['conv_fc'] == pytest.approx(4.0, rel=0.01)
    # CGD: 6 parameters per channel over the 13 depthwise widths (32 ... 1024): 29,760
    assert with_cgd['params'] - plain['params'] == 6 * 4960 == 29_760
    # mmengine counts no MAC for CGD (pooling, softmax, tanh and the rescale are elementwise ops
    # it does not count); the paper's +0.030M is about one MAC per CGD parameter: the O(C)
    # attention terms, without the two poolings and the rescale (1.93M each at 224, measured
    # in docs/records.md)
    assert with_cgd['total'] == plain['total']
    assert round((with_cgd['params'] - plain['params']) / 1e6, 2) == 0.03
