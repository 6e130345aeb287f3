"""The fused backward under float16 with a loss-scaled gradient: reductions stay float32.

The scene of the bug: 2 x 64 x 100 x 152 activations of std 4, gradient 1e-3 x 65536 (a loss
scale). sum_hw(g * x) per channel then reaches ~1e5..1e6, beyond float16's 65504, while every
gradient CGD returns fits. Summed in float16, every input and parameter gradient was inf/NaN.
"""
import pytest
import torch

from mmdet_cgd.models.layers import CGD

FP16_MAX = torch.finfo(torch.float16).max
# A few float16 roundings (unit roundoff 2^-11) separate the two computations: of the scale,
# of g * (1 + att) and, for inplace=True, of each kept y; 4 * 2^-11 of a tensor's largest value.
TOLERANCE = 4 * 2.0**-11


def loss_scaled_scene(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(2, 64, 100, 152, generator=g) * 4 + 1).half()
    grad = (1e-3 * 65536 * (0.75 + 0.5 * torch.rand(x.shape, generator=g))).half()
    return x, grad


def layer_with_biases(dtype):
    torch.manual_seed(0)
    layer = CGD(64)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer.to(dtype)


def gradients(layer, x, grad, inplace):
    layer.zero_grad()
    layer.inplace = inplace
    x = x.detach().clone().requires_grad_()
    layer(x * 1 if inplace else x).backward(grad)  # x * 1: a non-leaf may be scaled in place
    return [x.grad] + [p.grad.clone() for p in layer.parameters()]


@pytest.mark.parametrize('inplace', [False, True])
@pytest.mark.parametrize('param_dtype', [torch.float32, torch.float16],
                         ids=['float32 params (amp)', 'float16 params (model.half())'])
def test_float16_gradients_are_finite_and_match_float32(inplace, param_dtype):
    x, grad = loss_scaled_scene()
    got = gradients(layer_with_biases(param_dtype), x, grad, inplace)
    expected = gradients(layer_with_biases(torch.float32), x.float(), grad.float(), inplace)
    sums = (grad.float() * x.float()).sum((2, 3)).abs().max()
    assert sums > 2 * FP16_MAX, 'the scene must overflow a float16 reduction'
    assert [g.dtype for g in got] == [torch.float16] + [param_dtype] * 6
    for g, e in zip(got, expected):
        # a float16 parameter gradient beyond 65504 is inf, which GradScaler skips: compare the rest
        fits = e.abs() < FP16_MAX if g.dtype == torch.float16 else torch.ones_like(e, dtype=bool)
        if g is got[0]:
            assert fits.all(), 'the scene is meant to have an input gradient that fits float16'
        if not fits.any():
            continue
        assert torch.isfinite(g[fits]).all()
        err = (g.float() - e)[fits].abs().max()
        assert err <= TOLERANCE * e[fits].abs().max(), err / e[fits].abs().max()

