"""CGD stays finite and correct at the edges: huge, constant, zero and non-finite inputs, low
precision; property-based against the float64 explicit equations."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_support import needs_cpu_autocast

from mmdet_cgd.models.layers import CGD


def layer_with_biases(c, seed=0):
    torch.manual_seed(seed)
    layer = CGD(c)
    with torch.no_grad():
        for b in (layer.bias0, layer.bias1, layer.bias2):
            b.normal_(0, 0.3)
    return layer


def forward_both(layer, x):
    """(training Function, no-grad inference) outputs for x."""
    fused = layer(x.clone().requires_grad_())
    with torch.no_grad():
        plain = layer(x)
    return fused.detach(), plain


@settings(max_examples=60, deadline=None)
@given(b=st.integers(1, 3), c=st.integers(1, 12), h=st.integers(1, 6), w=st.integers(1, 6),
       log_scale=st.floats(-3, 5), seed=st.integers(0, 2**16))
def test_float32_matches_float64_equations(cgd_reference, b, c, h, w, log_scale, seed):
    layer = layer_with_biases(c, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g) * 10**log_scale
    expected = cgd_reference(layer.double(), x.double())
    layer.float()
    scale = expected.abs().max().item() + 1e-30
    for out in forward_both(layer, x):
        assert torch.isfinite(out).all()
        assert (out.double() - expected).abs().max().item() <= 1e-5 * scale


@pytest.mark.parametrize('magnitude', [1e4, 1e6, 1e10, 1e30])
def test_huge_activations_stay_finite_and_correct(cgd_reference, magnitude):
    layer = layer_with_biases(16)
    x = torch.randn(2, 16, 7, 7) * magnitude
    expected = cgd_reference(layer.double(), x.double())
    layer.float()
    for out in forward_both(layer, x):
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=0)


def test_all_zero_input_gives_zero_and_finite_gradients():
    layer = layer_with_biases(8)
    x = torch.zeros(2, 8, 4, 4, requires_grad=True)
    y = layer(x)
    assert torch.equal(y, torch.zeros_like(y))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_all_equal_channels(cgd_reference):
    layer = layer_with_biases(8)
    x = torch.full((2, 8, 5, 5), 3.5)
    x[1] = -2.0
    expected = cgd_reference(layer.double(), x.double())
    layer.float()
    for out in forward_both(layer, x):
        torch.testing.assert_close(out.double(), expected, rtol=1e-6, atol=1e-6)
    xg = x.clone().requires_grad_()
    layer(xg).sum().backward()
    assert torch.isfinite(xg.grad).all()


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_input_propagates_to_its_sample_only(bad):
    """A NaN/inf anywhere in a sample's pooled vectors makes that sample NaN: reported, never
    turned into finite garbage; the other samples are untouched."""
    layer = layer_with_biases(4)
    x = torch.randn(2, 4, 3, 3)
    clean = layer(x[1:]).detach()
    x[0, 2, 1, 1] = bad
    for out in forward_both(layer, x):
        assert torch.isnan(out[0]).all()
        torch.testing.assert_close(out[1:], clean, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('dtype', [
    pytest.param(torch.float16, marks=needs_cpu_autocast(torch.float16)), torch.bfloat16])
def test_low_precision_large_activations(dtype, cgd_reference):
    """The pooled vectors and attention are computed in float32: only the final product is
    rounded to the input's precision."""
    layer = layer_with_biases(16)
    x = (torch.randn(2, 16, 6, 6) * 1e4).to(dtype)
    expected = cgd_reference(layer.double(), x.double())
    layer.float()
    with torch.autocast('cpu', dtype=dtype):
        for out in forward_both(layer, x):
            assert out.dtype == dtype and torch.isfinite(out).all()
            eps = torch.finfo(dtype).eps
            torch.testing.assert_close(out.double(), expected, rtol=2 * eps, atol=0)
    half_model = CGD(16).to(dtype)  # a whole model cast to low precision works too
    assert torch.isfinite(half_model(x)).all()
