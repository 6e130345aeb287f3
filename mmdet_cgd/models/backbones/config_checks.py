"""Checks our tools run on a config before building anything, so mistakes read as sentences.

mmdet's stock ResNet answers an unknown plugin position, or a plugin on ResNet-18/34, with a bare
``AssertionError`` from deep inside its blocks.
"""
from typing import Iterator, Tuple

STOCK_RESNETS = ('ResNet', 'ResNetV1d', 'ResNeXt', 'mmdet.ResNet', 'mmdet.ResNetV1d',
                 'mmdet.ResNeXt')
STOCK_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


def _backbones(cfg, where='model') -> Iterator[Tuple[str, dict]]:
    if isinstance(cfg, dict):
        if 'depth' in cfg and 'type' in cfg and 'plugins' in cfg:
            yield where, cfg
        for key, value in cfg.items():
            yield from _backbones(value, f'{where}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            yield from _backbones(value, f'{where}[{i}]')


def check_backbone_plugins(model_cfg) -> None:
    """Raise ``ValueError`` naming the backbone, what it accepts and what the config gives."""
    for where, backbone in _backbones(model_cfg):
        plugins, kind = backbone.get('plugins') or [], backbone['type']
        if kind not in STOCK_RESNETS:
            continue  # CGDResNet checks its own plugins with clear errors
        if plugins and backbone['depth'] in (18, 34):
            raise ValueError(
                f"{where}: mmdet's {kind}-{backbone['depth']} (BasicBlock) takes no plugins, got "
                f"{len(plugins)}; use type='CGDResNet' with position='before_norm1', which "
                'supports BasicBlock')
        for i, plugin in enumerate(plugins):
            position = plugin.get('position') if isinstance(plugin, dict) else None
            if position not in STOCK_POSITIONS:
                hint = (" ('before_norm1' needs type='CGDResNet')"
                        if position == 'before_norm1' else '')
                raise ValueError(f'{where}.plugins[{i}]: position must be one of '
                                 f'{STOCK_POSITIONS} for {kind}, got {position!r}{hint}')
