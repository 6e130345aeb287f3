"""CGD(inplace=True) refuses, at forward, inputs whose producer keeps them for backward."""
import pytest
import torch
import torch.utils.checkpoint as cp
from torch import nn

from mmdet_cgd.models.layers import CGD
from mmdet_cgd.utils.errors import CGDConfigError


def inplace_cgd(c=4):
    return CGD(c, inplace=True)


PRODUCERS_THAT_KEEP_THEIR_OUTPUT = {
    'relu': torch.relu,
    'nn.ReLU(inplace=True) after a conv': nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(True)),
    'sigmoid': torch.sigmoid,
    'exp': torch.exp,
    'a view of a relu output': lambda t: torch.relu(t)[:, :4],
}


@pytest.mark.parametrize('name', list(PRODUCERS_THAT_KEEP_THEIR_OUTPUT))
def test_after_a_producer_that_keeps_its_output_is_a_config_error_at_forward(name):
    producer = PRODUCERS_THAT_KEEP_THEIR_OUTPUT[name]
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    with pytest.raises(CGDConfigError, match='before_norm1.*inplace=False') as info:
        inplace_cgd()(producer(x))
    assert isinstance(info.value, AssertionError) and isinstance(info.value, ValueError)


def test_error_is_catchable_as_assertion_error_and_says_what_was_given():
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    with pytest.raises(AssertionError, match='ReluBackward0'):
        inplace_cgd()(torch.relu(x))
    with pytest.raises(ValueError, match='keeps it for backward'):
        inplace_cgd()(torch.relu(x))


def test_under_activation_checkpointing_too():
    """There autograd's version counter does not fire: the gradient would be silently wrong."""
    layer = inplace_cgd()
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    with pytest.raises(CGDConfigError):
        cp.checkpoint(lambda t: layer(torch.sigmoid(t)), x, use_reentrant=False)


@pytest.mark.parametrize('producer', [
    nn.Conv2d(4, 4, 3, padding=1),
    nn.Conv2d(4, 4, 1, bias=False),
    nn.BatchNorm2d(4),  # keeps its input and statistics, not its output
    nn.Linear(5, 5),
])
def test_after_producers_that_do_not_keep_their_output_it_trains(producer):
    layer = inplace_cgd()
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    layer(producer(x)).sum().backward()
    assert torch.isfinite(x.grad).all() and layer.w0.grad is not None
    out = cp.checkpoint(lambda t: layer(producer(t)), x, use_reentrant=False)
    out.sum().backward()


def test_a_leaf_that_requires_grad_is_a_config_error():
    with pytest.raises(CGDConfigError, match='leaf'):
        inplace_cgd()(torch.randn(1, 4, 3, 3, requires_grad=True))


def test_inputs_without_grad_and_inference_are_scaled_in_place_unchecked():
    layer = inplace_cgd()
    x = torch.randn(1, 4, 3, 3)
    assert layer(x) is x  # training the parameters only
    with torch.no_grad():
        r = torch.relu(torch.randn(1, 4, 3, 3))
        assert layer(r) is r


def test_a_consumer_that_modifies_the_output_in_place_is_caught_at_backward():
    """Documented limit: only autograd's version counter can see it."""
    conv = nn.Conv2d(4, 4, 1)
    y = inplace_cgd()(conv(torch.randn(1, 4, 3, 3)))
    y += 1
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        y.sum().backward()
