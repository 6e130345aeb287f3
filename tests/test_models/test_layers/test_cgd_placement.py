"""CGD gives the gradients of its equations wherever it sits, whatever its consumer does in place.

The reference is autograd through the explicit C x C equations (``cgd_reference``), float64.
"""
import pytest
import torch
from torch import nn

from mmdet_cgd.models.layers import CGD


def randomized(c, seed=0, **kwargs):
    """Non-zero biases and a trained-like weight range, float64."""
    torch.manual_seed(seed)
    layer = CGD(c, **kwargs).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return layer


class AddsOneInPlace(nn.Module):
    """A user's module that modifies its input in place."""

    def forward(self, t):
        t += 1
        return t


def add_one_in_place(t):
    t += 1
    return t


CONSUMERS = {
    'y += 1': (add_one_in_place, lambda t: t + 1),
    'relu_': (torch.relu_, torch.relu),
    'nn.ReLU(inplace=True)': (nn.ReLU(inplace=True), torch.relu),
    'module adding in place': (AddsOneInPlace(), lambda t: t + 1),
    'mul_(2)': (lambda t: t.mul_(2), lambda t: t * 2),
}


def gradients(layer, producer, cgd, consumer, x, weight):
    """Input and parameter gradients of sum(weight * consumer(cgd(producer(x))))."""
    layer.zero_grad()
    x = x.detach().clone().requires_grad_()
    (weight * consumer(cgd(producer(x)))).sum().backward()
    return [x.grad] + [p.grad.clone() for p in layer.parameters()]


def assert_relative(got, expected, tol=1e-6):
    for g, e in zip(got, expected):
        assert (g - e).abs().max() <= tol * e.abs().max(), (g - e).abs().max() / e.abs().max()


@pytest.mark.parametrize('consumer', list(CONSUMERS))
def test_inplace_consumer_after_cgd_gets_the_reference_gradients(consumer, cgd_reference):
    layer = randomized(6)
    in_place, out_of_place = CONSUMERS[consumer]
    x, weight = torch.randn(2, 6, 5, 7, dtype=torch.float64), torch.randn(2, 6, 5, 7).double()
    producer = torch.relu  # keeps its output: the input must not be scaled in place

    got = gradients(layer, producer, layer, in_place, x, weight)
    expected = gradients(layer, producer, lambda t: cgd_reference(layer, t), out_of_place, x,
                         weight)
    assert_relative(got, expected)


def test_cgd_at_after_conv3_of_mmdet_resnet_trains():
    """The crash this guards against: mmdet's Bottleneck does ``out += identity`` on CGD's
    output; the gradients must equal those of the plain autograd path."""
    from mmdet.models.backbones import ResNet

    torch.manual_seed(0)
    net = ResNet(50, plugins=[dict(cfg=dict(type='CGD'), position='after_conv3')]).double()
    # two samples and random loss weights: after a training-mode BN, one sample's channel means
    # are 0 and a plain sum's gradient mostly cancels; what would be left of w0's gradient
    # (~1e-16) is rounding, which differs between two ways of summing
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    weights = [torch.randn(o.shape, dtype=torch.float64) for o in net(x)]
    net.zero_grad()
    sum((o * w).sum() for o, w in zip(net(x), weights)).backward()
    fused = {n: p.grad.clone() for n, p in net.named_parameters() if 'cgd' in n}
    net.zero_grad()
    plugins = [m for m in net.modules() if isinstance(m, CGD)]
    for m in plugins:
        m.forward = m.forward_plain  # autograd-only reference path
    sum((o * w).sum() for o, w in zip(net(x), weights)).backward()
    assert fused and all(torch.isfinite(g).all() for g in fused.values())
    for name, g in fused.items():
        expected = net.get_parameter(name).grad
        assert expected.abs().max() > 1e-9, name  # a gradient, not rounding
        assert (g - expected).abs().max() <= 1e-6 * expected.abs().max(), name


@pytest.mark.parametrize('inplace', [False, True])
def test_directly_after_a_conv_matches_the_reference_gradients(inplace, cgd_reference):
    layer = randomized(6, inplace=inplace)
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, padding=1).double()
    x, weight = torch.randn(2, 4, 6, 5, dtype=torch.float64), torch.randn(2, 6, 6, 5).double()
    conv_grads = []

    def run(cgd):
        conv.zero_grad()
        grads = gradients(layer, conv, cgd, torch.relu, x, weight)
        conv_grads.append(conv.weight.grad.clone())
        return grads

    got = run(layer)
    expected = run(lambda t: cgd_reference(layer, t))
    assert_relative(got + conv_grads[:1], expected + conv_grads[1:])


@pytest.mark.parametrize('inplace', [False, True])
def test_gradcheck_after_a_conv(inplace):
    layer = randomized(3, inplace=inplace)
    conv = nn.Conv2d(2, 3, 1).double()
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(conv(t)), (x, ))


def test_inplace_saturated_channel_still_sends_the_max_gradient_to_the_max(cgd_reference):
    """att = -1 exactly (scale 0) wipes a channel of y; its max position must not come from y."""
    layer = randomized(4, inplace=True)
    with torch.no_grad():
        layer.bias2[0, 1] = -100.0  # tanh(-100 + |psi q|) == -1 in float64
    conv = nn.Conv2d(4, 4, 1).double()
    x, weight = torch.randn(2, 4, 5, 6, dtype=torch.float64), torch.randn(2, 4, 5, 6).double()
    y = layer(conv(x.clone()))
    assert torch.equal(y[:, 1], torch.zeros_like(y[:, 1]))
    got = gradients(layer, conv, layer, torch.relu, x, weight)
    expected = gradients(layer, conv, lambda t: cgd_reference(layer, t), torch.relu, x, weight)
    assert_relative(got, expected)


@pytest.mark.parametrize('inplace', [False, True])
def test_ties_send_the_max_gradient_to_one_position(inplace):
    layer = randomized(3, inplace=inplace)
    x = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    x[0, :, 1, 2] = x[0, :, 3, 0] = 2.0  # two maxima per channel
    conv = nn.Identity()
    xg = x.clone().requires_grad_()
    layer(conv(xg * 1)).sum().backward()
    reference = randomized(3)
    xr = x.clone().requires_grad_()
    reference.forward_plain(xr).sum().backward()
    # the whole max gradient lands on the first maximum, the plain path splits it in two
    split = xr.grad[0, :, 1, 2] - xr.grad[0, :, 0, 0]
    torch.testing.assert_close(xg.grad[0, :, 1, 2] - xg.grad[0, :, 0, 0], 2 * split)
    torch.testing.assert_close(xg.grad[0, :, 3, 0], xg.grad[0, :, 0, 0])
