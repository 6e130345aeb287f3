"""Where a plugin may sit in a ResNet-family block: the one place these rules live.

    conv1 -> [before_norm1] -> norm1 -> ReLU -> [after_conv1] -> conv2 ... -> [after_conv2]
          -> conv3 -> norm3 -> [after_conv3] -> out += identity

``before_norm1`` is the CGD paper's placement (ours); the ``after_conv*`` ones are mmdet's and
exist only in Bottleneck-style blocks (mmdet's BasicBlock takes no plugins).
"""
from typing import Optional, Sequence

import numpy as np

from mmdet_cgd.utils import type_name, with_nearest
from mmdet_cgd.utils.errors import CGDConfigError

BEFORE_NORM1 = 'before_norm1'
STOCK_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')
BOTTLENECK_POSITIONS = (BEFORE_NORM1, ) + STOCK_POSITIONS
BASIC_BLOCK_POSITIONS = (BEFORE_NORM1, )
PLUGIN_KEYS = ('cfg', 'position', 'stages')  # what mmdet's make_stage_plugins reads
CGD_FLAGS = ('identity_init', 'inplace')


def check_plugin(plugin, allowed: Sequence[str], where: str, num_stages: Optional[int] = None,
                 hint: str = '') -> str:
    """Return ``plugin``'s position; raise ``CGDConfigError`` if the dict has a key mmdet does
    not read (ignored there), a CGD flag that is not a bool, a position not in ``allowed``
    (``hint`` says what to do then), ``stages`` that do not fit ``num_stages``, or an in-place
    CGD at a stock position."""
    if not isinstance(plugin, dict) or not isinstance(plugin.get('cfg'), dict):
        raise CGDConfigError(f"{where}: a plugin must be dict(cfg=dict(type=...), "
                             f"position=...), got {plugin!r}")
    unknown = sorted(set(plugin) - set(PLUGIN_KEYS))
    if unknown:
        raise CGDConfigError(f'{where}: a plugin has no key {with_nearest(unknown, PLUGIN_KEYS)};'
                             f' its keys: cfg, position, stages (optional)')
    check_no_in_channels(plugin, where)
    is_cgd = is_cgd_type(plugin['cfg'].get('type'))
    for flag in CGD_FLAGS if is_cgd else ():
        value = plugin['cfg'].get(flag, False)
        if not isinstance(value, (bool, np.bool_)):  # 'False' and 'no' would be true
            raise CGDConfigError(f"{where}.cfg: CGD's {flag} must be True or False, got "
                                 f'{value!r}')
    position = plugin.get('position')
    if position not in allowed:
        raise CGDConfigError(f'{where}: position must be one of {tuple(allowed)}, got '
                             f'{position!r}{hint}')
    stages = plugin.get('stages')
    if num_stages is not None and stages is not None and len(stages) != num_stages:
        raise CGDConfigError(f'{where}: stages must give one bool per stage ({num_stages}), '
                             f'got {tuple(stages)!r}')
    if is_cgd:
        check_inplace(position, bool(plugin['cfg'].get('inplace', False)), where)
    return position


def check_no_in_channels(plugin, where: str) -> None:
    """``build_plugin_layer`` passes the block's width as ``in_channels``: a config that gives it
    too would fail with a ``TypeError`` (``got multiple values``) that names no config key."""
    layer = plugin.get('cfg') if isinstance(plugin, dict) else None
    if isinstance(layer, dict) and 'in_channels' in layer:
        raise CGDConfigError(f'{where}: a plugin gets in_channels from its block; remove '
                             f"cfg.in_channels={layer['in_channels']!r}")


def check_inplace(position: str, inplace: bool, where: str) -> None:
    """In-place CGD only right after a conv: after_conv1/2 follow a ReLU that keeps its output
    for backward, and ``out += identity`` modifies after_conv3's output."""
    if inplace and position in STOCK_POSITIONS:
        raise CGDConfigError(
            f"{where}: CGD(inplace=True) at {position!r} would corrupt the gradient of the op "
            f"around it; inplace=True is for {BEFORE_NORM1!r} only (directly after conv1): "
            'use inplace=False here')


def is_cgd_type(kind) -> bool:
    """Whether a plugin cfg's ``type`` names our CGD layer (a name, scoped name or the class)."""
    return type_name(kind) == 'CGD'


def plugins_in_stage(plugins: Sequence[dict], stage_idx: int) -> list:
    """The plugins of stage ``stage_idx``, without ``stages``, as mmdet's make_stage_plugins."""
    chosen = []
    for plugin in plugins:
        plugin = dict(plugin)
        stages = plugin.pop('stages', None)
        if stages is None or stages[stage_idx]:
            chosen.append(plugin)
    return chosen
