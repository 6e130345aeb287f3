"""Where a plugin may sit in a ResNet-family block: the one place these rules live.

    conv1 -> [before_norm1] -> norm1 -> ReLU -> [after_conv1] -> conv2 ... -> [after_conv2]
          -> conv3 -> norm3 -> [after_conv3] -> out += identity

``before_norm1`` is the CGD paper's placement (ours); the ``after_conv*`` ones are mmdet's and
exist only in Bottleneck-style blocks (mmdet's BasicBlock takes no plugins).
"""
from typing import Optional, Sequence

from mmdet_cgd.utils import type_name
from mmdet_cgd.utils.errors import CGDConfigError

BEFORE_NORM1 = 'before_norm1'
STOCK_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')
BOTTLENECK_POSITIONS = (BEFORE_NORM1, ) + STOCK_POSITIONS
BASIC_BLOCK_POSITIONS = (BEFORE_NORM1, )


def check_plugin(plugin, allowed: Sequence[str], where: str,
                 num_stages: Optional[int] = None) -> str:
    """Return ``plugin``'s position; raise ``CGDConfigError`` if it is not one of ``allowed``,
    its ``stages`` do not fit ``num_stages``, or it asks for an in-place CGD at a stock position."""
    if not isinstance(plugin, dict) or not isinstance(plugin.get('cfg'), dict):
        raise CGDConfigError(f"{where}: a plugin must be dict(cfg=dict(type=...), "
                             f"position=...), got {plugin!r}")
    check_no_in_channels(plugin, where)
    position = plugin.get('position')
    if position not in allowed:
        raise CGDConfigError(f'{where}: position must be one of {tuple(allowed)}, got '
                             f'{position!r} in {plugin!r}')
    stages = plugin.get('stages')
    if num_stages is not None and stages is not None and len(stages) != num_stages:
        raise CGDConfigError(f'{where}: stages must give one bool per stage ({num_stages}), '
                             f'got {tuple(stages)!r}')
    if is_cgd_type(plugin['cfg'].get('type')):
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
