"""MobileNet v1 (arXiv 1704.04861) with the CGD authors' placement in every depthwise block.

    depthwise 3x3 (conv1) -> [before_norm1 plugins: CGD] -> bn1 -> ReLU
        -> pointwise 1x1 (conv2) -> bn2 -> ReLU

mmdet 3 and mmpretrain 1 ship no MobileNet v1. Module names are the authors' (their
``detection/mobilenet.py``: stem ``conv1``/``bn1``, blocks ``layers.N.conv1/bn1/conv2/bn2``; CGD at
``layers.N.cgd`` where they have ``layers.N.attention``), so their converted ImageNet checkpoints
load by name. Without ``plugins`` it is a plain MobileNet v1.

Example: the authors' SSD300 backbone (blocks 10 and 12 at strides 8 and 16)::

    backbone=dict(type='CGDMobileNet', stem_stride=1, out_indices=(10, 12),
                  plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')])
"""
from typing import List, Optional, Sequence

import torch.utils.checkpoint as cp
from mmcv.cnn import (
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
)
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_cgd.utils.errors import CGDConfigError

from .block_plugins import add_block_plugin, register_norm_before_conv
from .placement_record import record_and_check_placement
from .plugin_positions import BEFORE_NORM1, check_plugin, plugins_in_stage

# (output channels, stride) of the 13 depthwise-separable blocks, as the authors' ``cfg``
ARCH = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
        (512, 1), (512, 1), (1024, 2), (1024, 1))
STEM_CHANNELS = 32


def scaled(channels: int, widen_factor: float) -> int:
    """Rounded as the authors' 0.7x file (32 -> 22, 64 -> 45, 1024 -> 717), at least 1."""
    return max(1, int(round(channels * widen_factor)))


class DepthwiseSeparable(BaseModule):
    """conv1 (3x3 depthwise) -> plugins -> norm1 -> act -> conv2 (1x1) -> norm2 -> act."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 plugins: Sequence[dict], conv_cfg: Optional[dict], norm_cfg: dict,
                 act_cfg: dict, with_cp: bool = False, where: str = 'block'):
        super().__init__()
        self.with_cp = with_cp
        # registered in the order they run: mmcv's fuse_conv_bn folds each norm into the conv
        # registered last before it
        self.conv1 = build_conv_layer(conv_cfg, in_channels, in_channels, 3, stride=stride,
                                      padding=1, groups=in_channels, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, in_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, in_channels, out_channels, 1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.activate = build_activation_layer(act_cfg)
        self.before_norm1_plugin_names = [
            add_block_plugin(self, p['cfg'], in_channels, BEFORE_NORM1, where) for p in plugins]
        if self.before_norm1_plugin_names:  # CGD scales conv1's output: keep bn1 out of conv1
            register_norm_before_conv(self, 'conv1', self.norm1_name)

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    def forward(self, x):

        def _inner_forward(x):
            out = self.conv1(x)
            for name in self.before_norm1_plugin_names:
                out = getattr(self, name)(out)
            out = self.activate(self.norm1(out))
            return self.activate(self.norm2(self.conv2(out)))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


@MODELS.register_module()
class CGDMobileNet(BaseModule):
    """MobileNet v1: a 3x3 stem conv (32 channels) and 13 depthwise-separable blocks.

    Args:
        widen_factor: channel multiplier (the paper's MobileNet alpha = 0.7 row: 0.7).
        stem_stride: 2 is the standard MobileNet v1 (0.569 GMACs at 224, the paper's table); the
            authors' code has 1, which puts blocks 10 and 12 at strides 8 and 16 (their SSD300).
        out_indices: blocks (0-12) whose outputs are returned.
        frozen_stages: -1 freezes nothing, 0 the stem, k the stem and blocks 0..k-1.
        plugins: as CGDResNet's, at ``before_norm1`` only (between a depthwise conv and its
            norm); ``stages`` gives one bool per block (13).
        freeze_plugins: whether ``frozen_stages`` also freezes the plugins of frozen blocks
            (default False: a newly inserted CGD keeps learning, as in CGDResNet).
        conv_cfg, norm_cfg, act_cfg: mmcv layer configs (default: Conv2d, BN, ReLU).
        norm_eval: keep BatchNorm in eval mode (statistics frozen) while training.
        with_cp: gradient checkpointing per block.
        init_cfg: default Kaiming on convs and 1 on norms, as mmdet's MobileNets; CGD keeps
            its own init.
    """

    def __init__(self, widen_factor: float = 1.0, stem_stride: int = 2,
                 out_indices: Sequence[int] = (12, ), frozen_stages: int = -1,
                 plugins: Optional[List[dict]] = None, freeze_plugins: bool = False,
                 conv_cfg: Optional[dict] = None, norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None, norm_eval: bool = False,
                 with_cp: bool = False, init_cfg=None):
        norm_cfg = norm_cfg or dict(type='BN')
        act_cfg = act_cfg or dict(type='ReLU')
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d'),
                        dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg)
        name = type(self).__name__
        if not set(out_indices) <= set(range(len(ARCH))) or not out_indices:
            raise CGDConfigError(f'{name}: out_indices must be block indices in 0..'
                                 f'{len(ARCH) - 1}, got {tuple(out_indices)!r}')
        if frozen_stages not in range(-1, len(ARCH) + 1):
            raise CGDConfigError(f'{name}: frozen_stages must be in -1..{len(ARCH)} (0: the '
                                 f'stem, k: the stem and blocks 0..k-1), got {frozen_stages!r}')
        if stem_stride not in (1, 2):
            raise CGDConfigError(f'{name}: stem_stride must be 2 (MobileNet v1) or 1 (the CGD '
                                 f"authors' code), got {stem_stride!r}")
        if plugins is not None and not isinstance(plugins, (list, tuple)):
            raise CGDConfigError(f'{name}: plugins must be a list of dicts, got {plugins!r}')
        self.widen_factor, self.stem_stride = widen_factor, stem_stride
        self.out_indices, self.frozen_stages = tuple(out_indices), frozen_stages
        self.plugins, self.freeze_plugins = plugins, freeze_plugins
        record_and_check_placement(self)
        self.norm_eval, self.with_cp = norm_eval, with_cp
        for i, plugin in enumerate(plugins or []):
            check_plugin(plugin, (BEFORE_NORM1, ), f'{name}.plugins[{i}]', len(ARCH))

        channels = scaled(STEM_CHANNELS, widen_factor)
        self.conv1 = build_conv_layer(conv_cfg, 3, channels, 3, stride=stem_stride, padding=1,
                                      bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.activate = build_activation_layer(act_cfg)
        blocks = []
        for i, (out_channels, stride) in enumerate(ARCH):
            out_channels = scaled(out_channels, widen_factor)
            blocks.append(DepthwiseSeparable(
                channels, out_channels, stride, plugins_in_stage(plugins or [], i), conv_cfg,
                norm_cfg, act_cfg, with_cp, where=f'{name}.layers[{i}]'))
            channels = out_channels
        self.layers = nn.Sequential(*blocks)
        self.out_channels = [scaled(ARCH[i][0], widen_factor) for i in self.out_indices]
        self._freeze_stages()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def forward(self, x):
        x = self.activate(self.norm1(self.conv1(x)))
        outs = []
        for i, block in enumerate(self.layers):
            x = block(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        frozen = [self.conv1, self.norm1] if self.frozen_stages >= 0 else []
        frozen += list(self.layers[:max(self.frozen_stages, 0)])
        for module in frozen:
            module.eval()
            module.requires_grad_(False)
        if self.freeze_plugins:
            return
        for block in self.layers[:max(self.frozen_stages, 0)]:
            for name in block.before_norm1_plugin_names:
                getattr(block, name).train(self.training).requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
