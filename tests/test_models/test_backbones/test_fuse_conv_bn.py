"""mmcv's ``fuse_conv_bn`` (deployment, benchmarks) keeps every CGD backbone's outputs: it folds
each BatchNorm into the conv registered last before it, so a norm must not follow, in
registration order, a conv whose output CGD scales first (``before_norm1``); every other pair
still fuses."""
import copy

import pytest
import torch
from mmcv.cnn import fuse_conv_bn
from test_cgd_backbone_family import FAMILY
from test_cgd_mobilenet import one_thread  # noqa: F401 (an autouse fixture)
from test_gradient_matrix import randomize
from torch import nn

from mmdet_cgd.models import CGDMobileNet

POSITIONS = ('before_norm1', 'after_conv1', 'after_conv2', 'after_conv3')
BACKBONES = [(ours, kwargs) for ours, _, kwargs in FAMILY] + [
    (CGDMobileNet, dict(widen_factor=0.125, stem_stride=1, out_indices=(10, 12))),
]


def positions_of(cls, kwargs):
    """None (no plugin) and every position the backbone's blocks take."""
    if cls is CGDMobileNet or kwargs.get('depth') == 18:
        return (None, 'before_norm1')
    return (None, ) + POSITIONS


CASES = [(cls, kwargs, position) for cls, kwargs in BACKBONES
         for position in positions_of(cls, kwargs)]
IDS = [f'{cls.__name__}-{kw.get("depth", kw.get("arch", ""))}-{pos or "plain"}'
       for cls, kw, pos in CASES]


def norms_with_statistics(model, seed=1):
    """Running statistics far from (0, 1): a fold that is wrong shows in the outputs."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0, 0.5, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)
    return model


def convs_cgd_scales(model):
    """The first conv of each block with before_norm1 plugins (ConvModule's conv in V2)."""
    for block in model.modules():
        if getattr(block, 'before_norm1_plugin_names', None):
            if hasattr(block, 'conv1'):
                yield block.conv1
            else:
                yield (block.expand_conv if block.with_expand_conv else block.depthwise_conv).conv


@pytest.mark.parametrize('cls,kwargs,position', CASES, ids=IDS)
def test_fusion_keeps_the_outputs(cls, kwargs, position):
    torch.manual_seed(0)
    plugins = [dict(cfg=dict(type='CGD'), position=position)] if position else None
    model = norms_with_statistics(randomize(cls(plugins=plugins, **kwargs).double())).eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    n_norms = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    with torch.no_grad():
        expected = model(x)
        fused = fuse_conv_bn(copy.deepcopy(model))
        got = fused(x)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5 * e.abs().max().item())
    left = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    assert left < n_norms  # it fused something
    for conv in convs_cgd_scales(fused):  # left as they were: CGD scales them before the norm
        assert conv.bias is None
