"""One mechanism that adds ``before_norm1`` to every mmdet ResNet-family backbone.

The stock backbone is built without plugins; then each block gets its plugins built for the
width it really has (``conv1.out_channels``, ``conv3.out_channels``) under the names
``build_plugin_layer`` gives. Stock positions run through the stock ``forward`` (its
``after_conv*_plugin_names``); ``before_norm1`` plugins run in a forward hook on ``conv1`` that
returns their output. The blocks' own ``forward``, init and state-dict names stay mmdet's.
"""
from typing import List, Optional

from mmcv.cnn import build_plugin_layer
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmengine.registry import MODELS

from mmdet_cgd.models.layers import CGD
from mmdet_cgd.utils.errors import CGDConfigError

from .placement_record import record_and_check_placement
from .plugin_positions import (
    BASIC_BLOCK_POSITIONS,
    BEFORE_NORM1,
    BOTTLENECK_POSITIONS,
    STOCK_POSITIONS,
    check_inplace,
    check_plugin,
    plugins_in_stage,
)


class BeforeNorm1Hook:
    """``conv1``'s forward hook: its output goes through the block's before_norm1 plugins.

    Holds the block (not the plugins) so that ``copy.deepcopy`` (EMA) rebinds it to the copy and
    a plugin replaced by name is the one that runs.
    """

    def __init__(self, block):
        self.block = block

    def __call__(self, conv1, args, out):
        for name in self.block.before_norm1_plugin_names:
            out = getattr(self.block, name)(out)
        return out


def add_block_plugin(block, cfg: dict, in_channels: int, position: str, where: str) -> str:
    """Build plugin ``cfg`` for ``in_channels`` and add it to ``block`` under the name
    ``build_plugin_layer`` gives; returns the name. Every backbone of ours adds plugins here."""
    cfg = dict(cfg)
    kind = cfg.get('type')
    with MODELS.switch_scope_and_registry(None) as registry:  # where build_plugin_layer looks
        known = not isinstance(kind, str) or registry.get(kind) is not None
    if not known:  # mmcv would say "Cannot find None in registry"
        raise CGDConfigError(f'{where}: unknown plugin type {kind!r} in cfg={cfg}: expected a '
                             "registered layer such as 'CGD' (is custom_imports=['mmdet_cgd'] "
                             'in the config?)')
    name, layer = build_plugin_layer(cfg, in_channels=in_channels,
                                     postfix=cfg.pop('postfix', ''))
    if hasattr(block, name):
        raise CGDConfigError(f"{where}: duplicate plugin name {name!r}: give each plugin of one "
                             "type in a block its own postfix, inside its cfg "
                             "(cfg=dict(type=..., postfix='a'))")
    if isinstance(layer, CGD):
        check_inplace(position, layer.inplace, where)
    block.add_module(name, layer)
    return name


def register_norm_before_conv(module, conv_name: str, norm_name: str) -> None:
    """Move ``norm_name`` ahead of ``conv_name`` in ``module``'s registration order.

    mmcv's ``fuse_conv_bn`` folds each BatchNorm into the conv registered last before it: after
    conv1, norm1 would be folded into conv1 across the before_norm1 plugins, which scale conv1's
    output before norm1 sees it (the fused block computes something else). Ahead of conv1 it is
    left alone, and every other conv-norm pair still fuses. Names, so state-dict keys, stay;
    the order of parameters (which an optimizer's saved state follows) changes.
    """
    names = list(module._modules)
    for name in names[names.index(conv_name):]:
        if name != norm_name:  # conv1 and everything after it, in order, behind the norm
            module.add_module(name, module._modules.pop(name))


def train_plugins_of_frozen_stages(backbone) -> None:
    """Unless ``backbone.freeze_plugins``, the plugins in the stages ``frozen_stages`` froze
    (``layer1`` ... ``layer<frozen_stages>``) keep training: a newly inserted CGD learns while
    the pretrained convs and norms stay frozen."""
    if backbone.freeze_plugins:
        return
    for i in range(1, backbone.frozen_stages + 1):
        for block in getattr(backbone, f'layer{i}'):
            for name in block_plugin_names(block):
                getattr(block, name).train(backbone.training).requires_grad_(True)


def block_plugin_names(block) -> List[str]:
    """Every plugin of ``block``, in the order it runs."""
    return [n for p in (BEFORE_NORM1, ) + STOCK_POSITIONS
            for n in getattr(block, f'{p}_plugin_names', [])]


class BeforeNorm1Mixin:
    """Put first in the bases of an mmdet ResNet-family backbone: ``class X(BeforeNorm1Mixin,
    ResNeXt)``. Adds ``plugins`` at ``before_norm1`` (conv1 -> plugins -> norm1), gives every
    stock-position plugin its block's real width, and BasicBlocks (ResNet-18/34) the position too.

    Args:
        plugins: as mmdet's ResNet (``cfg``, ``position``, optional ``stages``), positions
            ``before_norm1`` (all blocks) and ``after_conv1/2/3`` (Bottleneck-style blocks).
        freeze_plugins: whether ``frozen_stages`` also freezes the plugins inside those stages.
            Default False: a plugin newly inserted into a pretrained network keeps learning while
            the pretrained convs and norms stay frozen. True when the plugins are pretrained too.
        *args, **kwargs: as the mmdet backbone.
    """

    def __init__(self, *args, plugins: Optional[List[dict]] = None,
                 freeze_plugins: bool = False, **kwargs):
        self.freeze_plugins = freeze_plugins
        if plugins is not None and not isinstance(plugins, (list, tuple)):
            raise CGDConfigError(f'{type(self).__name__}: plugins must be a list of dicts, got '
                                 f'{plugins!r}')
        super().__init__(*args, **kwargs)  # the stock backbone, without plugins
        self.plugins = plugins
        record_and_check_placement(self)
        checked = self._checked(plugins or [])
        for stage_idx, layer_name in enumerate(self.res_layers):
            stage_plugins = plugins_in_stage(checked, stage_idx)
            for block_idx, block in enumerate(getattr(self, layer_name)):
                where = f'{type(self).__name__}.{layer_name}[{block_idx}]'
                self._add_block_plugins(block, stage_plugins, where)
        self._freeze_stages()

    @classmethod
    def _stock_class(cls):
        return next(c for c in cls.__mro__ if not issubclass(c, BeforeNorm1Mixin))

    def _checked(self, plugins) -> List[dict]:
        for i, plugin in enumerate(plugins):
            check_plugin(plugin, BOTTLENECK_POSITIONS, f'{type(self).__name__}.plugins[{i}]',
                         self.num_stages)
        return list(plugins)

    def _add_block_plugins(self, block, plugins: List[dict], where: str) -> None:
        if isinstance(block, Bottleneck):
            allowed = BOTTLENECK_POSITIONS
        elif isinstance(block, BasicBlock):
            allowed = BASIC_BLOCK_POSITIONS
        else:
            raise CGDConfigError(f'{where}: expected an mmdet ResNet BasicBlock or Bottleneck '
                                 f'(or a subclass), got {type(block).__name__}')
        misplaced = [p['position'] for p in plugins if p['position'] not in allowed]
        if misplaced:
            raise CGDConfigError(
                f'{where}: {type(block).__name__} takes plugins only at {allowed}, got '
                f'{misplaced[0]!r} (mmdet runs after_conv* only in Bottleneck blocks)')
        # after_conv1/2 see conv1's width (planes, ResNeXt's width, Res2Net's width * scales)
        widths = dict(before_norm1=block.conv1.out_channels,
                      after_conv1=block.conv1.out_channels,
                      after_conv2=block.conv1.out_channels,
                      after_conv3=getattr(block, 'conv3', block.conv1).out_channels)
        for position in allowed:
            cfgs = [p['cfg'] for p in plugins if p['position'] == position]
            setattr(block, f'{position}_plugin_names',
                    [add_block_plugin(block, cfg, widths[position], position, where)
                     for cfg in cfgs])
        if block.before_norm1_plugin_names:
            block.conv1.register_forward_hook(BeforeNorm1Hook(block))
            register_norm_before_conv(block, 'conv1', block.norm1_name)
        if isinstance(block, Bottleneck) and any(
                getattr(block, f'{p}_plugin_names') for p in STOCK_POSITIONS):
            block.with_plugins = True  # the stock forward runs after_conv*_plugin_names
            block.plugins = [p for p in plugins if p['position'] in STOCK_POSITIONS]

    def _freeze_stages(self):
        super()._freeze_stages()
        train_plugins_of_frozen_stages(self)

    def train(self, mode: bool = True):
        super().train(mode)
        return self  # as nn.Module does; mmdet's ResNet.train returns None

