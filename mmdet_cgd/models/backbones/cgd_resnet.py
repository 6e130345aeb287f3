"""ResNet that also takes plugins at ``before_norm1``, the CGD paper's placement.

    conv1 -> [before_norm1 plugins] -> norm1 -> ReLU -> [after_conv1 plugins] -> conv2 -> ...

mmdet's ``after_conv1`` runs after conv1, norm1 *and* ReLU, and its BasicBlock (ResNet-18/34) takes
no plugins at all. These blocks add the position for Bottleneck and BasicBlock and keep every
state-dict name of mmdet's ResNet, so ImageNet and mmdet checkpoints load unchanged.
"""
from typing import List, Optional, Tuple

import torch.utils.checkpoint as cp
from mmcv.cnn import build_plugin_layer
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmdet.registry import MODELS

BEFORE_NORM1 = 'before_norm1'
STOCK_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


def split_plugins(plugins: Optional[List[dict]], allowed: Tuple[str, ...],
                  block: str) -> Tuple[List[dict], Optional[List[dict]]]:
    """Split a block's plugin list into ``before_norm1`` cfgs and the rest (None if empty)."""
    plugins = plugins or []
    for plugin in plugins:
        position = plugin.get('position') if isinstance(plugin, dict) else None
        if position not in allowed:
            raise ValueError(f'{block} plugin position must be one of {allowed}, got '
                             f'{position!r} in {plugin!r}')
    before = [p['cfg'] for p in plugins if p['position'] == BEFORE_NORM1]
    rest = [p for p in plugins if p['position'] != BEFORE_NORM1]
    return before, (rest or None)


class BeforeNorm1Mixin:
    """Builds and runs plugins by name, as mmdet's Bottleneck does, for both block types."""

    def make_block_plugins(self, in_channels: int, plugins: List[dict]) -> List[str]:
        names = []
        for plugin in plugins:
            plugin = dict(plugin)
            name, layer = build_plugin_layer(plugin, in_channels=in_channels,
                                             postfix=plugin.pop('postfix', ''))
            if hasattr(self, name):
                raise ValueError(f'duplicate plugin name {name!r} in {type(self).__name__}: give '
                                 "each plugin of one type in a block its own 'postfix'")
            self.add_module(name, layer)
            names.append(name)
        return names

    def forward_plugin(self, x, plugin_names: List[str]):
        for name in plugin_names:
            x = getattr(self, name)(x)
        return x

    def plugin_modules(self):
        """All plugin layers of this block, whatever their position."""
        return [getattr(self, n) for n in self.plugin_names]

    def run_block(self, inner_forward, x):
        """``relu(inner_forward(x))``, under activation checkpointing when ``with_cp``."""
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(inner_forward, x, use_reentrant=False)
        else:
            out = inner_forward(x)
        return self.relu(out)


class CGDBottleneck(BeforeNorm1Mixin, Bottleneck):
    """mmdet's Bottleneck plus the ``before_norm1`` position."""

    def __init__(self, inplanes: int, planes: int, *args, plugins: Optional[List[dict]] = None,
                 **kwargs):
        before, stock = split_plugins(plugins, (BEFORE_NORM1, ) + STOCK_POSITIONS, 'Bottleneck')
        super().__init__(inplanes, planes, *args, plugins=stock, **kwargs)
        if not self.with_plugins:
            self.after_conv1_plugin_names = []
            self.after_conv2_plugin_names = []
            self.after_conv3_plugin_names = []
        self.before_norm1_plugin_names = self.make_block_plugins(planes, before)
        self.plugin_names = (self.before_norm1_plugin_names + self.after_conv1_plugin_names +
                             self.after_conv2_plugin_names + self.after_conv3_plugin_names)

    def forward(self, x):

        def _inner_forward(x):
            out = self.conv1(x)
            out = self.forward_plugin(out, self.before_norm1_plugin_names)
            out = self.relu(self.norm1(out))
            out = self.forward_plugin(out, self.after_conv1_plugin_names)
            out = self.relu(self.norm2(self.conv2(out)))
            out = self.forward_plugin(out, self.after_conv2_plugin_names)
            out = self.norm3(self.conv3(out))
            out = self.forward_plugin(out, self.after_conv3_plugin_names)
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
            return out

        return self.run_block(_inner_forward, x)


class CGDBasicBlock(BeforeNorm1Mixin, BasicBlock):
    """mmdet's BasicBlock (which refuses plugins) with the ``before_norm1`` position."""

    def __init__(self, inplanes: int, planes: int, *args, plugins: Optional[List[dict]] = None,
                 **kwargs):
        before, _ = split_plugins(plugins, (BEFORE_NORM1, ), 'BasicBlock')
        super().__init__(inplanes, planes, *args, plugins=None, **kwargs)
        self.before_norm1_plugin_names = self.make_block_plugins(planes, before)
        self.plugin_names = list(self.before_norm1_plugin_names)

    def forward(self, x):

        def _inner_forward(x):
            out = self.conv1(x)
            out = self.forward_plugin(out, self.before_norm1_plugin_names)
            out = self.relu(self.norm1(out))
            out = self.norm2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            out += identity
            return out

        return self.run_block(_inner_forward, x)


@MODELS.register_module()
class CGDResNet(ResNet):
    """mmdet's ResNet whose blocks accept plugins at ``before_norm1`` (all depths, 18 to 152).

    Example: the paper's CGD in every block::

        backbone=dict(type='CGDResNet', depth=50,
                      plugins=[dict(cfg=dict(type='CGD'), position='before_norm1')])

    Args:
        freeze_plugins: whether ``frozen_stages`` also freezes the plugins inside those stages.
            Default False: a plugin newly inserted into a pretrained network (random or identity
            init) keeps learning while the pretrained convs and norms stay frozen. Set True when the
            plugins' weights are pretrained too (the paper's CGD-ResNet-50 checkpoint).
        **kwargs: as mmdet's ``ResNet``.
    """

    arch_settings = {
        18: (CGDBasicBlock, (2, 2, 2, 2)),
        34: (CGDBasicBlock, (3, 4, 6, 3)),
        50: (CGDBottleneck, (3, 4, 6, 3)),
        101: (CGDBottleneck, (3, 4, 23, 3)),
        152: (CGDBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, freeze_plugins: bool = False, zero_init_residual: bool = True,
                 pretrained=None, init_cfg=None, **kwargs):
        self.freeze_plugins = freeze_plugins
        # mmdet picks its zero-init of the last norm with `block is Bottleneck`, which our
        # subclasses fail; make_res_layer restores it so a from-scratch init matches mmdet's.
        self._zero_init_last_norm = zero_init_residual and pretrained is None and init_cfg is None
        super().__init__(depth, zero_init_residual=zero_init_residual, pretrained=pretrained,
                         init_cfg=init_cfg, **kwargs)

    def make_res_layer(self, **kwargs):
        if self._zero_init_last_norm and kwargs.get('init_cfg') is None:
            last_norm = 'norm3' if issubclass(kwargs['block'], Bottleneck) else 'norm2'
            kwargs['init_cfg'] = dict(type='Constant', val=0, override=dict(name=last_norm))
        return super().make_res_layer(**kwargs)

    def train(self, mode: bool = True):
        super().train(mode)
        return self  # as nn.Module does; mmdet's ResNet.train returns None

    def _freeze_stages(self):
        super()._freeze_stages()
        if self.freeze_plugins:
            return
        for i in range(1, self.frozen_stages + 1):
            for block in getattr(self, f'layer{i}'):
                for plugin in block.plugin_modules():
                    plugin.train(self.training)
                    plugin.requires_grad_(True)


@MODELS.register_module()
class CGDResNetV1d(CGDResNet):
    """``CGDResNet`` with ResNetV1d's deep stem and average-pool downsampling."""

    def __init__(self, **kwargs):
        super().__init__(deep_stem=True, avg_down=True, **kwargs)
