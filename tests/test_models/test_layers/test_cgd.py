import io
import math
import re
import warnings

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.utils import register_all_modules
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import Registry
from torch_support import onnx_export_kwargs

from mmdet_cgd.models import CGDResNet
from mmdet_cgd.models.layers import CGD
from mmdet_cgd.utils.errors import CGDConfigError

SHAPES = [(1, 1, 1, 1), (1, 3, 5, 7), (2, 8, 1, 1), (3, 16, 9, 4), (2, 1, 6, 6), (1, 64, 13, 11)]


def randomized(layer: CGD, seed: int = 0) -> CGD:
    """Non-zero biases too, so every term of the equations is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return layer


@pytest.mark.parametrize('shape', SHAPES)
def test_matches_explicit_equations_in_float64(shape, cgd_reference):
    torch.manual_seed(1)
    layer = randomized(CGD(shape[1])).double()
    x = torch.randn(shape, dtype=torch.float64) * 3
    torch.testing.assert_close(layer(x), cgd_reference(layer, x), rtol=0, atol=1e-10)


@pytest.mark.parametrize('shape', [(1, 1, 1, 1), (2, 3, 3, 2), (1, 5, 1, 4)])
def test_gradcheck(shape):
    torch.manual_seed(2)
    layer = randomized(CGD(shape[1])).double()
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x, ))
    for name, p in layer.named_parameters():
        def wrt(v, name=name):
            return torch.func.functional_call(layer, {name: v}, (x.detach(), ))

        assert torch.autograd.gradcheck(wrt, (p.detach().clone().requires_grad_(), )), name


def test_parameters_are_six_vectors_with_the_authors_names_and_shapes():
    layer = CGD(32)
    shapes = {n: tuple(p.shape) for n, p in layer.named_parameters()}
    assert shapes == {
        'w0': (32, 1), 'w1': (32, 1), 'w2': (32, 1),
        'bias0': (1, 32, 1, 1), 'bias1': (1, 32, 1, 1), 'bias2': (1, 32, 1, 1)}
    assert sum(p.numel() for p in layer.parameters()) == 6 * 32


def test_identity_init_returns_the_input_exactly():
    layer = CGD(16, identity_init=True)
    x = torch.randn(2, 16, 7, 5) * 100
    assert torch.equal(layer(x), x)


def test_identity_init_still_learns():
    layer = CGD(8, identity_init=True)
    layer(torch.randn(2, 8, 4, 4)).square().sum().backward()
    assert layer.w2.grad.abs().sum() > 0


def test_authors_init_is_xavier_uniform_weights_and_zero_biases():
    torch.manual_seed(3)
    c = 4096
    layer = CGD(c)
    bound = math.sqrt(6.0 / (c + 1))  # Xavier-uniform on a C x 1 matrix: fan_in 1, fan_out C
    for w in (layer.w0, layer.w1, layer.w2):
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.99 * bound
        # U(-b, b): mean 0, variance b^2 / 3 (4096 samples: a few percent of sampling noise)
        assert abs(w.mean().item()) < 0.05 * bound
        assert w.var().item() == pytest.approx(bound**2 / 3, rel=0.1)
    for b in (layer.bias0, layer.bias1, layer.bias2):
        assert torch.equal(b, torch.zeros_like(b))
    assert not torch.equal(layer(torch.randn(1, c, 2, 2)), torch.zeros(1))  # not the identity


@pytest.mark.parametrize(
    'bad', [torch.randn(2, 8), torch.randn(2, 8, 4), torch.randn(1, 2, 8, 4, 4)])
def test_non_4d_input_is_a_clear_error(bad):
    with pytest.raises(ValueError, match=rf'4-D .* got {bad.dim()}-D'):
        CGD(8)(bad)


def test_wrong_channel_count_says_expected_and_given():
    with pytest.raises(ValueError, match='in_channels=8 got an input with 6 channels'):
        CGD(8)(torch.randn(1, 6, 4, 4))


@pytest.mark.parametrize('bad', [0, -3, 2.5, None, True])
def test_bad_in_channels_is_a_clear_error(bad):
    with pytest.raises(ValueError, match='positive int'):
        CGD(bad)


def test_builds_from_config_in_mmdet_scope():
    register_all_modules(init_default_scope=True)
    layer = MMDET_MODELS.build(dict(type='CGD', in_channels=8, identity_init=True))
    assert isinstance(layer, CGD) and layer.identity_init


def test_builds_from_a_child_registry_of_another_package():
    other = Registry('other-package models', parent=ROOT_MODELS, scope='otherpkg')
    assert isinstance(other.build(dict(type='CGD', in_channels=4)), CGD)


def test_build_plugin_layer_passes_in_channels_and_names_it_cgd():
    from mmcv.cnn import build_plugin_layer
    name, layer = build_plugin_layer(dict(type='CGD'), postfix='_1', in_channels=12)
    assert name == 'cgd_1' and layer.in_channels == 12


@pytest.mark.parametrize('option', ['identity_init', 'inplace'])
@pytest.mark.parametrize('bad', ['no', 'False', 1, 0, None])
def test_a_non_bool_option_names_the_option_expected_and_given(option, bad):
    """'False' is a true string: taken as given it would scale in place or zero w2."""
    with pytest.raises(CGDConfigError, match=rf"{option} must be True or False, got {bad!r} "
                                             rf"\({type(bad).__name__}\)"):
        CGD(4, **{option: bad})


@pytest.mark.parametrize('option', ['identity_init', 'inplace'])
def test_numpy_bools_are_taken_as_bools(option):
    layer = CGD(4, **{option: np.bool_(True)})
    assert getattr(layer, option) is True


@pytest.mark.parametrize('bad', ['triton', 'PyTorch', None])
def test_a_bad_backend_names_the_allowed_values_and_what_was_given(bad):
    with pytest.raises(CGDConfigError, match=rf"backend must be one of 'auto', 'pytorch', got "
                                             rf"{re.escape(repr(bad))}"):
        CGD(4, backend=bad)


def test_onnx_export_of_a_cgd_backbone_warns_nothing_from_our_code():
    """#31 item 9: the channel check converted a traced size to a Python bool."""
    backbone = CGDResNet(depth=18, plugins=[dict(cfg=dict(type='CGD'),
                                                 position='before_norm1')]).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.onnx.export(backbone, torch.randn(1, 3, 32, 32), io.BytesIO(), opset_version=17,
                          **onnx_export_kwargs())
    ours = [f'{w.filename}:{w.lineno}: {w.message}' for w in caught
            if 'mmdet_cgd' in w.filename or issubclass(w.category, torch.jit.TracerWarning)]
    assert not ours
