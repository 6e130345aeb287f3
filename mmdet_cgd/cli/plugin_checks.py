"""Checks our tools run on a config before building anything, so mistakes read as sentences.

mmdet's stock ResNet family answers an unknown plugin position, or a plugin on ResNet-18/34, with a
bare ``AssertionError`` from deep inside its blocks, and stock Res2Net builds plugins too narrow for
its blocks, failing only at the first forward. The position rules come from
``mmdet_cgd.models.backbones.plugin_positions``, which our backbones apply at build time too,
with the same messages: ``MODELS.build`` and mmdet's own tools stop there as well. mmdet's stock
backbones are mmdet's code: only these checks (and a hint in CGD's channel error) cover them.
"""
from typing import Iterator, Tuple

from mmdet_cgd.models.backbones import CGD_VARIANTS, CGDMobileNet, CGDMobileNetV2
from mmdet_cgd.models.backbones.plugin_positions import (
    BASIC_BLOCK_POSITIONS,
    BEFORE_NORM1,
    BOTTLENECK_POSITIONS,
    STOCK_POSITIONS,
    check_no_in_channels,
    check_plugin,
)
from mmdet_cgd.utils import CGDConfigError, config_dicts, type_name

BASIC_BLOCK_DEPTHS = (18, 34)
# our MobileNets: only before_norm1 (between a block's first conv and its norm)
BEFORE_NORM1_ONLY = (CGDMobileNet.__name__, CGDMobileNetV2.__name__)


def _backbones(cfg) -> Iterator[Tuple[str, dict]]:
    """Every dict that is a backbone (under a ``backbone`` key) or carries ``plugins``."""
    for where, node in config_dicts(cfg):
        if 'type' in node and ('plugins' in node or where.endswith('backbone')):
            yield where, node


def check_backbone_plugins(model_cfg) -> None:
    """Raise ``CGDConfigError`` (a ``ValueError``) naming the backbone, what it accepts and what
    the config gives."""
    supported = ', '.join((*CGD_VARIANTS.values(), *BEFORE_NORM1_ONLY))
    for where, backbone in _backbones(model_cfg):
        kind = type_name(backbone['type'])
        plugins = backbone.get('plugins') or []
        for i, plugin in enumerate(plugins):
            check_no_in_channels(plugin, f'{where}.plugins[{i}]')
        if kind in CGD_VARIANTS.values():
            allowed = (BASIC_BLOCK_POSITIONS if backbone.get('depth') in BASIC_BLOCK_DEPTHS
                       else BOTTLENECK_POSITIONS)
            for i, plugin in enumerate(plugins):
                check_plugin(plugin, allowed, f'{where}.plugins[{i}] ({kind})')
        elif kind in BEFORE_NORM1_ONLY:
            for i, plugin in enumerate(plugins):
                check_plugin(plugin, (BEFORE_NORM1, ), f'{where}.plugins[{i}] ({kind})')
        elif kind in CGD_VARIANTS:
            _check_stock(where, kind, backbone, plugins)
        elif kind.startswith('CGD'):
            raise CGDConfigError(f'{where}: no backbone {kind!r}; the CGD placement '
                                 f'({BEFORE_NORM1!r}) is served by {supported}')
        elif any(isinstance(p, dict) and p.get('position') == BEFORE_NORM1 for p in plugins):
            raise CGDConfigError(
                f"{where}: {kind} has no {BEFORE_NORM1!r} position: it is built from blocks "
                f'other than mmdet ResNet ones; supported: {supported}')


def _check_stock(where: str, kind: str, backbone: dict, plugins) -> None:
    ours = CGD_VARIANTS[kind]
    if plugins and backbone.get('depth') in BASIC_BLOCK_DEPTHS:
        raise CGDConfigError(
            f"{where}: mmdet's {kind}-{backbone['depth']} (BasicBlock) takes no plugins, got "
            f"{len(plugins)}; use type={ours!r} with position={BEFORE_NORM1!r}, which supports "
            'BasicBlock')
    if plugins and kind == 'Res2Net':
        raise CGDConfigError(
            f"{where}: mmdet's Res2Net builds plugins for planes channels where its blocks have "
            f'width * scales, and fails at the first forward; use type={ours!r}, which builds '
            'them for the real width (and adds before_norm1)')
    for i, plugin in enumerate(plugins):
        position = plugin.get('position') if isinstance(plugin, dict) else None
        hint = f' ({BEFORE_NORM1!r} needs type={ours!r})' if position == BEFORE_NORM1 else ''
        if position not in STOCK_POSITIONS:
            raise CGDConfigError(f'{where}.plugins[{i}]: position must be one of '
                                 f'{STOCK_POSITIONS} for {kind}, got {position!r}{hint}')
        check_plugin(plugin, STOCK_POSITIONS, f'{where}.plugins[{i}] ({kind})')
