"""One training step, every CGD placement: gradients equal an autograd-only reference's.

Positions x block (Bottleneck, BasicBlock) x with_cp x inplace, in float64 on the first two
stages of a depth-50/18 CGDResNet with base_channels=8: every input and parameter gradient must
match the same network whose CGDs compute the explicit C x C equations (tests/conftest.py) with
plain autograd ops, to 1e-6 relative. Placements that cannot be correct are refused when the
backbone is built.
"""
import copy

import pytest
import torch
from mmdet.models.backbones import ResNet
from torch import nn

from mmdet_cgd.models import CGD, CGDConfigError, CGDResNet

POSITIONS = ('before_norm1', 'after_conv1', 'after_conv2', 'after_conv3')
# Two stages (7 Bottlenecks or 4 BasicBlocks, with and without downsampling), BatchNorm training.
TINY = dict(base_channels=8, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(0, 1),
            norm_eval=False)


class ExplicitCGD(nn.Module):
    """The same six parameters (same names) as ``layer``, computed by ``equations``."""

    def __init__(self, layer: CGD, equations):
        super().__init__()
        for name, param in layer.named_parameters():
            self.register_parameter(name, nn.Parameter(param.detach().clone()))
        self.equations = equations

    def forward(self, x):
        return self.equations(self, x)


def with_explicit_cgd(model, equations):
    """A copy of ``model`` whose CGD layers are ``ExplicitCGD``s."""
    reference = copy.deepcopy(model)
    for module in list(reference.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, CGD):
                setattr(module, child_name, ExplicitCGD(child, equations))
    assert not any(isinstance(m, CGD) for m in reference.modules())
    return reference


def is_cgd_parameter(name: str) -> bool:
    return any(part.startswith('cgd') for part in name.split('.'))


def randomize(model, seed=0):
    """Non-trivial weights (CGD attention far from 0, BN far from identity), fixed by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if is_cgd_parameter(name) else 0.1
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def gradients(model, x, weights):
    """Input and parameter gradients of one training step's loss."""
    x = x.clone().requires_grad_(True)
    model.zero_grad()
    outs = model(x)
    sum((o * w).sum() for o, w in zip(outs, weights)).backward()
    grads = {name: p.grad for name, p in model.named_parameters() if p.requires_grad}
    return x.grad, grads


def assert_same_gradients(model, reference, x):
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        weights = [torch.randn(o.shape, generator=gen, dtype=x.dtype) for o in reference(x)]
    x_grad, grads = gradients(model, x, weights)
    ref_x_grad, ref_grads = gradients(reference, x, weights)
    assert grads.keys() == ref_grads.keys()
    for name, got in [('input', x_grad), *grads.items()]:
        expected = ref_x_grad if name == 'input' else ref_grads[name]
        assert got is not None and expected is not None, name
        scale = expected.abs().max().item()
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6 * scale, msg=name)
    assert any(is_cgd_parameter(n) and g.abs().max() > 0 for n, g in grads.items())


@pytest.mark.parametrize('inplace', [False, True], ids=['copy', 'inplace'])
@pytest.mark.parametrize('with_cp', [False, True], ids=['no_cp', 'with_cp'])
@pytest.mark.parametrize('depth', [50, 18], ids=['Bottleneck', 'BasicBlock'])
@pytest.mark.parametrize('position', POSITIONS)
def test_training_step_matches_autograd_reference(position, depth, with_cp, inplace,
                                                  cgd_reference):
    plugins = [dict(cfg=dict(type='CGD', inplace=inplace), position=position)]
    build = dict(depth=depth, with_cp=with_cp, plugins=plugins, **TINY)
    if depth == 18 and position != 'before_norm1':
        with pytest.raises(CGDConfigError, match=r"BasicBlock takes plugins only at \('before_"
                                                 r"norm1',\)|inplace=True is for 'before_norm1'"):
            CGDResNet(**build)
        return
    if inplace and position != 'before_norm1':
        with pytest.raises(CGDConfigError, match="inplace=True is for 'before_norm1' only"):
            CGDResNet(**build)
        return
    torch.manual_seed(0)
    model = randomize(CGDResNet(**build).double()).train()
    reference = with_explicit_cgd(model, cgd_reference).train()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    assert_same_gradients(model, reference, x)


@pytest.mark.parametrize('with_cp', [False, True], ids=['no_cp', 'with_cp'])
def test_stock_resnet_with_cgd_at_every_stock_position_trains(with_cp, cgd_reference):
    """The issue's reproduction: mmdet's own ResNet, CGD after conv1, conv2 and conv3."""
    plugins = [dict(cfg=dict(type='CGD', postfix=f'_{p}'), position=p) for p in POSITIONS[1:]]
    torch.manual_seed(0)
    model = ResNet(depth=50, with_cp=with_cp, plugins=plugins, **TINY).double()
    randomize(model).train()
    reference = with_explicit_cgd(model, cgd_reference)
    reference.train()
    assert_same_gradients(model, reference, torch.randn(2, 3, 32, 32, dtype=torch.float64))


class UserBlock(nn.Module):
    """A user's module: conv -> CGD -> an op that modifies CGD's output in place."""

    def __init__(self, next_op: str):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.cgd = CGD(6)
        self.next_op = next_op

    def forward(self, x):
        out = self.cgd(self.conv(x))
        if self.next_op == 'relu_':
            return (nn.functional.relu(out, inplace=True), )
        out += 1.0
        return (out.sigmoid(), )


@pytest.mark.parametrize('next_op', ['relu_', 'add_'])
def test_user_module_modifying_cgd_output_in_place(next_op, cgd_reference):
    torch.manual_seed(0)
    model = randomize(UserBlock(next_op).double())
    assert_same_gradients(model, with_explicit_cgd(model, cgd_reference),
                          torch.randn(2, 3, 9, 7, dtype=torch.float64))
