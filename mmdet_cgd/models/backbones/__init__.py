from .block_plugins import BeforeNorm1Hook, BeforeNorm1Mixin, block_plugin_names
from .cgd_cspnext import CGDCSPNeXt
from .cgd_mobilenet import CGDMobileNet
from .cgd_resnet import (
    CGD_VARIANTS,
    CGDRegNet,
    CGDRes2Net,
    CGDResNeSt,
    CGDResNet,
    CGDResNetV1d,
    CGDResNeXt,
)
from .plugin_positions import (
    BASIC_BLOCK_POSITIONS,
    BEFORE_NORM1,
    BOTTLENECK_POSITIONS,
    STOCK_POSITIONS,
    check_plugin,
)

__all__ = [
    'BASIC_BLOCK_POSITIONS', 'BEFORE_NORM1', 'BOTTLENECK_POSITIONS', 'BeforeNorm1Hook',
    'BeforeNorm1Mixin', 'CGD_VARIANTS', 'CGDCSPNeXt', 'CGDMobileNet', 'CGDRegNet',
    'CGDRes2Net', 'CGDResNeSt', 'CGDResNeXt', 'CGDResNet', 'CGDResNetV1d', 'STOCK_POSITIONS',
    'block_plugin_names', 'check_plugin'
]
