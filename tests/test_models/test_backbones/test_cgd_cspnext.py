"""CGDCSPNeXt: mmdet's CSPNeXt (RTMDet) with CGD as each CSP layer's channel attention; one
float64 training step equal to the explicit equations for every CGD option, on every device;
mmdet's names, widths and ImageNet weights otherwise."""
import logging

import pytest
import torch
from mmdet.models.backbones import CSPNeXt
from mmdet.models.layers import ChannelAttention, CSPLayer, ExpMomentumEMA
from mmdet.registry import MODELS
from mmengine.logging import MMLogger
from test_devices import counted_launches, triton_expected
from test_gradient_matrix import with_explicit_cgd

from mmdet_cgd.checkpoint import CheckpointMismatchError
from mmdet_cgd.models import CGD, CGDConfigError
from mmdet_cgd.models.backbones import CGDCSPNeXt
from mmdet_cgd.ops.inplace_safety import saved_copy_of

# widths 8-64 (RTMDet-tiny is 0.375: 48-384), one block per CSP layer, every stage an output
TINY = dict(deepen_factor=0.167, widen_factor=0.125, out_indices=(1, 2, 3, 4))
CGD_PARAMS = ('w0', 'w1', 'w2', 'bias0', 'bias1', 'bias2')
# where mmdet's CSPNeXt (P5) keeps its CSP layers: the last module of each stage
CSP_LAYERS = ('stage1.1', 'stage2.1', 'stage3.1', 'stage4.2')
# what a CSPNeXt ImageNet checkpoint lacks, and what it holds that CGDCSPNeXt does not
NEW_KEYS, UNUSED_KEYS = ['.attention.w', '.attention.bias'], ['.attention.fc.']


def csp_layers(model):
    return [m for m in model.modules() if isinstance(m, CSPLayer)]


def test_cgd_replaces_channel_attention_and_every_other_name_stays_mmdets():
    ours, stock = CGDCSPNeXt(**TINY), CSPNeXt(**TINY)
    ours_keys, stock_keys = set(ours.state_dict()), set(stock.state_dict())
    assert ours_keys - stock_keys == {f'{layer}.attention.{p}' for layer in CSP_LAYERS
                                      for p in CGD_PARAMS}
    assert stock_keys - ours_keys == {f'{layer}.attention.fc.{p}' for layer in CSP_LAYERS
                                      for p in ('weight', 'bias')}
    for layer, stock_layer in zip(csp_layers(ours), csp_layers(stock), strict=True):
        assert type(layer.attention) is CGD and not layer.attention.identity_init
        assert layer.attention.in_channels == stock_layer.attention.fc.in_channels
        assert layer.attention.in_channels == layer.final_conv.conv.in_channels
    assert [layer.attention.in_channels for layer in csp_layers(ours)] == [16, 32, 64, 128]
    x = torch.randn(2, 3, 64, 64)
    assert [o.shape for o in ours(x)] == [o.shape for o in stock(x)]


@pytest.mark.parametrize('widen_factor, channels', [(0.375, [48, 96, 192, 384]),
                                                    (0.5, [64, 128, 256, 512])],
                         ids=['tiny', 's'])
def test_parameters_6c_per_csp_layer_in_place_of_c2_plus_c(widen_factor, channels):
    ours = MODELS.build(dict(type='CGDCSPNeXt', deepen_factor=0.33, widen_factor=widen_factor))
    stock = CSPNeXt(deepen_factor=0.33, widen_factor=widen_factor)

    def attention(model):
        return sum(p.numel() for n, p in model.named_parameters() if '.attention.' in n)

    assert attention(stock) == sum(c * c + c for c in channels)
    assert attention(ours) == sum(6 * c for c in channels)
    rest = sum(p.numel() for p in ours.parameters()) - attention(ours)
    assert rest == sum(p.numel() for p in stock.parameters()) - attention(stock)


def test_attention_cfg_none_is_mmdets_cspnext():
    torch.manual_seed(0)
    stock = CSPNeXt(**TINY)
    stock.eval()  # returns None: mmdet's CSPNeXt.train does
    ours = CGDCSPNeXt(attention_cfg=None, **TINY).eval()
    assert all(type(layer.attention) is ChannelAttention for layer in csp_layers(ours))
    ours.load_state_dict(stock.state_dict())  # strict: the same names and shapes
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(ours(x), stock(x), strict=True))


def test_channel_attention_false_builds_no_attention_and_refuses_an_attention_cfg():
    for model in (CGDCSPNeXt(channel_attention=False, **TINY),
                  CGDCSPNeXt(channel_attention=False, attention_cfg=None, **TINY)):
        assert not any(hasattr(layer, 'attention') for layer in csp_layers(model))
        assert set(model.state_dict()) == set(CSPNeXt(channel_attention=False, **TINY)
                                              .state_dict())
    with pytest.raises(CGDConfigError, match=r"attention_cfg=\{'type': 'CGD'\} was given with "
                                             'channel_attention=False'):
        CGDCSPNeXt(channel_attention=False, attention_cfg=dict(type='CGD'), **TINY)


@pytest.mark.parametrize('attention_cfg, error, match', [
    pytest.param('CGD', CGDConfigError, r"must be a layer config such as dict\(type='CGD'\), "
                 "or None .*got 'CGD'", id='a_name'),
    pytest.param(dict(inplace=True), CGDConfigError, 'must be a layer config', id='no_type'),
    pytest.param(dict(type='CGD', in_channels=8), CGDConfigError,
                 'sets in_channels, which each CSP layer gives', id='in_channels'),
    pytest.param(dict(type='CGD', inplace='False'), CGDConfigError,
                 "inplace must be True or False, got 'False'", id='a_string_flag'),
    pytest.param(dict(type='CGDD'), KeyError, 'CGDD is not in the', id='unknown_type'),
])
def test_bad_attention_cfg_is_a_clear_error(attention_cfg, error, match):
    with pytest.raises(error, match=match):
        CGDCSPNeXt(attention_cfg=attention_cfg, **TINY)


# every option on the PyTorch path; the Triton path (on CPU: Triton's interpreter, seconds a
# case) with the configs' options
@pytest.mark.parametrize('identity_init, inplace, backend', [
    pytest.param(False, False, 'pytorch', id='authors_init-copy-pytorch'),
    pytest.param(False, True, 'pytorch', id='authors_init-inplace-pytorch'),
    pytest.param(True, False, 'pytorch', id='identity-copy-pytorch'),
    pytest.param(True, True, 'pytorch', id='identity-inplace-pytorch'),
    pytest.param(True, True, 'auto', id='identity-inplace-auto'),  # the RTMDet configs'
    pytest.param(False, True, 'auto', id='authors_init-inplace-auto'),  # the ImageNet config's
])
def test_training_step_matches_the_explicit_equations(identity_init, inplace, backend,
                                                      triton_on, monkeypatch, cgd_reference):
    torch.manual_seed(0)
    cfg = dict(type='CGD', identity_init=identity_init, inplace=inplace, backend=backend)
    model = CGDCSPNeXt(attention_cfg=cfg, **TINY).double().to(triton_on).train()
    reference = with_explicit_cgd(model, cgd_reference).train()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64, device=triton_on)
    weights = [torch.randn_like(o) for o in reference(x)]
    launches = counted_launches(monkeypatch)
    got, expected = gradients(model, x, weights), gradients(reference, x, weights)
    assert bool(launches) == (backend == 'auto' and triton_expected(triton_on))
    assert got.keys() == expected.keys() == {'input', *dict(model.named_parameters())}
    for name, grad in got.items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-6,
                                   atol=1e-6 * expected[name].abs().max().item(), msg=name)
    for layer in CSP_LAYERS:
        assert got[f'{layer}.attention.w2'].abs().max() > 0
        # identity: att = tanh(psi phi^T w2 + b2) with w2 = 0, so only w2 and b2 learn at first
        assert (got[f'{layer}.attention.w0'].abs().max() == 0) == identity_init


def gradients(model, x, weights) -> dict:
    x = x.clone().requires_grad_()
    model.zero_grad(set_to_none=True)
    sum((o * w).sum() for o, w in zip(model(x), weights, strict=True)).backward()
    return {'input': x.grad, **{n: p.grad for n, p in model.named_parameters()}}


def test_identity_init_passes_the_csp_layers_features_unchanged():
    model = CGDCSPNeXt(attention_cfg=dict(type='CGD', identity_init=True), **TINY).eval()
    without = CGDCSPNeXt(attention_cfg=dict(type='CGD', identity_init=True), **TINY).eval()
    without.load_state_dict(model.state_dict())
    for layer in csp_layers(without):
        layer.attention = torch.nn.Identity()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), without(x), strict=True))


def test_the_attentions_input_comes_from_torch_cat_which_keeps_none_of_it():
    """Why inplace=True is safe here: CGD scales a tensor no backward needs."""
    model = CGDCSPNeXt(attention_cfg=dict(type='CGD', inplace=True), **TINY).train()
    producers = []  # seen before CGD runs: in place, it becomes the tensor's producer

    def producer(module, args):
        x = args[0]
        producers.append((type(x.grad_fn).__name__, x._base, saved_copy_of(x.grad_fn, x, 0)))

    for layer in csp_layers(model):
        layer.attention.register_forward_pre_hook(producer)
    model(torch.randn(2, 3, 32, 32))
    assert producers == [('CatBackward0', None, '')] * 4


def test_frozen_stages_freeze_their_attention_as_mmdets():
    model = CGDCSPNeXt(frozen_stages=2, **TINY).train()
    assert not any(p.requires_grad for p in model.stage2.parameters())
    assert all(p.requires_grad for p in model.stage3.parameters())
    assert not model.stage2[1].attention.training and model.stage3[1].attention.training


def test_ema_deep_copy_runs_its_own_cgd():
    torch.manual_seed(0)
    model = CGDCSPNeXt(**TINY).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        ema = ExpMomentumEMA(model)  # what RTMDet's EMAHook builds
        ema.update_parameters(model)  # the first update copies the model
        ema.module.stage4[2].attention.bias2.fill_(3.0)
        assert all(torch.equal(a, b) for a, b in zip(model(x), before))
        assert torch.equal(ema.module(x)[2], before[2])  # stage3 untouched
        assert not torch.equal(ema.module(x)[3], before[3])
        ema.update_parameters(model)  # then moves towards the model's bias2 = 0
        moved = ema.module.stage4[2].attention.bias2
        assert bool(((moved > 0) & (moved < 3)).all())


def imagenet_checkpoint(path, seed=0):
    """A stock CSPNeXt's weights as mmpretrain saves a classifier: ``backbone.``, ``head.``."""
    torch.manual_seed(seed)
    state = CSPNeXt(**TINY).state_dict()
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()}
    torch.save(dict(meta=dict(mmpretrain_version='1.2.0'), state_dict={
        **{f'backbone.{k}': v for k, v in state.items()}, 'head.fc.weight': torch.randn(10, 128),
        'head.fc.bias': torch.randn(10)}), path)
    return state


def test_strict_pretrained_loads_cspnext_imagenet_weights_with_the_attention_declared(tmp_path):
    stock = imagenet_checkpoint(tmp_path / 'cspnext.pth')
    model = CGDCSPNeXt(attention_cfg=dict(type='CGD', identity_init=True), **TINY, init_cfg=dict(
        type='StrictPretrained', checkpoint=str(tmp_path / 'cspnext.pth'), prefix='backbone.',
        new_keys=NEW_KEYS, unused_keys=UNUSED_KEYS))
    model.init_weights()
    loaded = model.state_dict()
    shared = set(stock) & set(loaded)
    assert shared == {k for k in stock if '.attention.fc.' not in k}
    assert all(torch.equal(loaded[k], stock[k]) for k in shared)
    for layer in csp_layers(model):  # CGD as built: the identity
        assert torch.count_nonzero(layer.attention.w2) == 0


def test_strict_pretrained_refuses_it_when_the_attention_is_not_declared(tmp_path):
    imagenet_checkpoint(tmp_path / 'cspnext.pth')
    model = CGDCSPNeXt(**TINY, init_cfg=dict(
        type='StrictPretrained', checkpoint=str(tmp_path / 'cspnext.pth'), prefix='backbone.'))
    with pytest.raises(CheckpointMismatchError) as error:
        model.init_weights()
    message = str(error.value)
    assert '24 missing' in message and "'stage1.1.attention.bias0'" in message
    assert "8 unexpected: ['stage1.1.attention.fc.bias'" in message
    assert 'shape mismatches' not in message


def test_mmengines_pretrained_loads_the_rest_and_logs_the_attention_keys(tmp_path):
    stock = imagenet_checkpoint(tmp_path / 'cspnext.pth')
    model = CGDCSPNeXt(**TINY, init_cfg=dict(type='Pretrained', prefix='backbone.',
                                              checkpoint=str(tmp_path / 'cspnext.pth')))
    cgd_before = {n: p.clone() for n, p in model.named_parameters() if '.attention.' in n}
    logged = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    unexpected, missing = [line for message in logged for line in message.splitlines()
                           if line.startswith(('unexpected key', 'missing keys'))]
    assert set(unexpected.split(': ')[1].split(', ')) == {
        f'{layer}.attention.fc.{p}' for layer in CSP_LAYERS for p in ('weight', 'bias')}
    assert set(missing.split(': ')[1].split(', ')) == {
        f'{layer}.attention.{p}' for layer in CSP_LAYERS for p in CGD_PARAMS}
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in stock.items() if k in loaded)
    assert all(torch.equal(loaded[n], p) for n, p in cgd_before.items())
