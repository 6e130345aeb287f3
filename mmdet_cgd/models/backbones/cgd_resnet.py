"""mmdet's ResNet family with the CGD paper's ``before_norm1`` position, one class per backbone.

    conv1 -> [before_norm1 plugins] -> norm1 -> ReLU -> [after_conv1 plugins] -> conv2 -> ...

mmdet's ``after_conv1`` runs after conv1, norm1 *and* ReLU, and its BasicBlock (ResNet-18/34) takes
no plugins at all. Each class is the mmdet backbone plus ``BeforeNorm1Mixin``: the blocks, their
forward and every state-dict name stay mmdet's, so ImageNet and mmdet checkpoints load unchanged.

Example: the paper's CGD in every block::

    backbone=dict(type='CGDResNeXt', depth=101, groups=32, base_width=4,
                  plugins=[dict(cfg=dict(type='CGD'), position='before_norm1')])
"""
from mmdet.models.backbones import RegNet, Res2Net, ResNeSt, ResNet, ResNetV1d, ResNeXt
from mmdet.registry import MODELS

from .block_plugins import BeforeNorm1Mixin


@MODELS.register_module()
class CGDResNet(BeforeNorm1Mixin, ResNet):
    """mmdet's ResNet (depths 18 to 152) with ``before_norm1``; see ``BeforeNorm1Mixin``."""


@MODELS.register_module()
class CGDResNetV1d(BeforeNorm1Mixin, ResNetV1d):
    """mmdet's ResNetV1d (deep stem, average-pool downsampling) with ``before_norm1``."""


@MODELS.register_module()
class CGDResNeXt(BeforeNorm1Mixin, ResNeXt):
    """mmdet's ResNeXt with ``before_norm1`` (CGD over conv1's ``groups x width`` channels)."""


@MODELS.register_module()
class CGDRegNet(BeforeNorm1Mixin, RegNet):
    """mmdet's RegNet with ``before_norm1``."""


@MODELS.register_module()
class CGDResNeSt(BeforeNorm1Mixin, ResNeSt):
    """mmdet's ResNeSt with ``before_norm1``."""


@MODELS.register_module()
class CGDRes2Net(BeforeNorm1Mixin, Res2Net):
    """mmdet's Res2Net with ``before_norm1``, and stock-position plugins built for the width
    Bottle2neck really has (``width * scales`` after conv1/conv2): stock Res2Net gives them
    ``planes`` and fails at the first forward."""


# The stock backbone each of ours extends, for errors that point from one to the other.
CGD_VARIANTS = {
    cls._stock_class().__name__: cls.__name__
    for cls in (CGDResNet, CGDResNetV1d, CGDResNeXt, CGDRegNet, CGDResNeSt, CGDRes2Net)
}
