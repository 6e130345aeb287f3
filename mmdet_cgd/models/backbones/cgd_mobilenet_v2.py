"""mmdet's MobileNetV2 (SSDLite, YOLOv3-MobileNetV2) with ``before_norm1``: CGD after the first
conv of each inverted residual, before its norm, as the authors place it in MobileNet v1.

    expand 1x1 conv -> [CGD] -> norm -> ReLU6 -> depthwise 3x3 -> ... -> linear 1x1 -> norm

The first block of stage 1 has no expand conv: there the first conv is the depthwise one. The
blocks are mmdet's ``InvertedResidual``s built from ``ConvModule``s (conv, norm and activation in
one module); the plugins run in a forward hook on the first ``ConvModule``'s ``conv``, so the
blocks' forward, init and state-dict names stay mmdet's. That ``ConvModule`` registers its norm
ahead of its conv, so mmcv's ``fuse_conv_bn`` leaves the pair CGD sits between unfused.
"""
from typing import List, Optional

from mmdet.models.backbones import MobileNetV2
from mmdet.registry import MODELS

from mmdet_cgd.utils.errors import CGDConfigError

from .block_plugins import (
    BeforeNorm1Hook,
    add_block_plugin,
    register_norm_before_conv,
    train_plugins_of_frozen_stages,
)
from .placement_record import record_and_check_placement
from .plugin_positions import BEFORE_NORM1, check_plugin, plugins_in_stage


@MODELS.register_module()
class CGDMobileNetV2(MobileNetV2):
    """mmdet's MobileNetV2 plus ``plugins`` at ``before_norm1``.

    Args:
        plugins: ``dict(cfg=..., position='before_norm1', stages=...)`` with one bool per
            stage (``layer1``-``layer7``) in ``stages``.
        freeze_plugins: whether ``frozen_stages`` also freezes the plugins of frozen stages
            (default False, as CGDResNet).
        *args, **kwargs: as mmdet's MobileNetV2.
    """

    def __init__(self, *args, plugins: Optional[List[dict]] = None,
                 freeze_plugins: bool = False, **kwargs):
        self.freeze_plugins = freeze_plugins
        super().__init__(*args, **kwargs)
        name = type(self).__name__
        if plugins is not None and not isinstance(plugins, (list, tuple)):
            raise CGDConfigError(f'{name}: plugins must be a list of dicts, got {plugins!r}')
        self.plugins = plugins
        record_and_check_placement(self)
        num_stages = len(self.arch_settings)
        for i, plugin in enumerate(plugins or []):
            check_plugin(plugin, (BEFORE_NORM1, ), f'{name}.plugins[{i}]', num_stages)
        for stage in range(num_stages):
            stage_plugins = plugins_in_stage(plugins or [], stage)
            for j, block in enumerate(getattr(self, f'layer{stage + 1}')):
                self._add_block_plugins(block, stage_plugins, f'{name}.layer{stage + 1}[{j}]')

    @staticmethod
    def _add_block_plugins(block, plugins: List[dict], where: str) -> None:
        first = block.expand_conv if block.with_expand_conv else block.depthwise_conv
        block.before_norm1_plugin_names = []
        for plugin in plugins:
            block.before_norm1_plugin_names.append(add_block_plugin(
                block, plugin['cfg'], first.conv.out_channels, BEFORE_NORM1, where))
        if block.before_norm1_plugin_names:
            first.conv.register_forward_hook(BeforeNorm1Hook(block))
            if first.with_norm:  # ConvModule runs by its `order`, not by registration
                register_norm_before_conv(first, 'conv', first.norm_name)

    def _freeze_stages(self):
        super()._freeze_stages()
        train_plugins_of_frozen_stages(self)

    def train(self, mode: bool = True):
        super().train(mode)
        return self  # as nn.Module does; mmdet's MobileNetV2.train returns None
