from mmdet_cgd.utils.errors import CGDConfigError

from .backbones import (
    CGDMobileNet,
    CGDMobileNetV2,
    CGDRegNet,
    CGDRes2Net,
    CGDResNeSt,
    CGDResNet,
    CGDResNetV1d,
    CGDResNeXt,
)
from .layers import CGD
from .ssd_head import PredictableSSDHead
from .weight_init import StrictPretrainedInit  # noqa: F401 (registers type='StrictPretrained')

__all__ = ['CGD', 'CGDConfigError', 'CGDMobileNet', 'CGDMobileNetV2', 'CGDRegNet', 'CGDRes2Net',
           'CGDResNeSt', 'CGDResNeXt', 'CGDResNet', 'CGDResNetV1d', 'PredictableSSDHead']
