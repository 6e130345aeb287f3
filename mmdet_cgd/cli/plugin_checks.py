"""The plugin checks our tools run on a config before building anything, so mistakes read as
sentences instead of mmdet's bare ``AssertionError``s, mmcv's "Cannot find None in registry",
a ``TypeError`` from a constructor or a failure at the first forward. The plugin-dict and
position rules are ``models.backbones.plugin_positions``'s, which our backbones apply when built
(also under mmdet's tools); mmdet's own backbones get them here only.
"""
import difflib
import inspect
from typing import Iterator, Optional, Tuple

from mmengine.registry import MODELS, DefaultScope

from mmdet_cgd.models.backbones import CGD_VARIANTS, CGDCSPNeXt, CGDMobileNet
from mmdet_cgd.models.backbones.plugin_positions import (
    BASIC_BLOCK_POSITIONS,
    BEFORE_NORM1,
    BOTTLENECK_POSITIONS,
    STOCK_POSITIONS,
    check_no_in_channels,
    check_plugin,
)
from mmdet_cgd.utils import CGDConfigError, config_dicts, type_name, with_nearest

BASIC_BLOCK_DEPTHS = (18, 34)
# our MobileNet: only before_norm1 (between a block's first conv and its norm)
BEFORE_NORM1_ONLY = (CGDMobileNet.__name__, )
# ours with CGD built in, no plugins: CGDCSPNeXt's attention_cfg
PLUGIN_FREE = (CGDCSPNeXt.__name__, )
# mmdet's backbones whose plugins run (Res2Net builds them too narrow)
STOCK_WITH_PLUGINS = tuple(k for k in CGD_VARIANTS if k != 'Res2Net')


def _backbones(cfg) -> Iterator[Tuple[str, dict]]:
    """Every dict that is a backbone (under a ``backbone`` key) or carries ``plugins``."""
    for where, node in config_dicts(cfg):
        if 'type' in node and ('plugins' in node or where.endswith('backbone')):
            yield where, node


def _registered_names(registry) -> set:
    parent = registry.parent
    return set(registry.module_dict) | (_registered_names(parent) if parent else set())


def _options(layer) -> Tuple[Optional[set], set]:
    """(accepted options or None for any, required ones) of a layer class, besides the
    ``in_channels`` its block passes."""
    try:
        params = list(inspect.signature(layer).parameters.values())
    except (TypeError, ValueError):  # no Python signature: nothing to check against
        return None, set()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None, set()
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and p.name != 'in_channels']
    return {p.name for p in named}, {p.name for p in named if p.default is p.empty}


def check_plugin_layer(layer_cfg, where: str, default_scope: str = 'mmdet') -> None:
    """Raise ``CGDConfigError`` for a layer config (a plugin's ``cfg``, CGDCSPNeXt's
    ``attention_cfg``) of an unregistered type or with options its layer does not take."""
    if not isinstance(layer_cfg, dict):
        return  # the shape of a plugin dict is check_plugin's, of attention_cfg the backbone's
    kind = layer_cfg.get('type')
    layer = kind
    if isinstance(kind, str):
        with DefaultScope.overwrite_default_scope(default_scope), \
                MODELS.switch_scope_and_registry(None) as registry:  # as build_plugin_layer
            layer = registry.get(kind)
            names = _registered_names(registry)
        if layer is None:
            lower = {n.lower(): n for n in names}
            near = [lower[n] for n in difflib.get_close_matches(kind.split('.')[-1].lower(),
                                                                  lower, n=3, cutoff=0.6)]
            raise CGDConfigError(
                f'{where}: no plugin layer type {kind!r} is registered'
                + (f'; did you mean {" or ".join(map(repr, near))}?' if near else '')
                + " (CGD's type is 'CGD'; custom layers need custom_imports)")
    if not callable(layer):
        return
    accepted, required = _options(layer)
    given = set(layer_cfg) - {'type', 'postfix', 'in_channels', '_scope_'}
    name = type_name(kind)
    if accepted is not None and given - accepted:
        raise CGDConfigError(
            f'{where}: {name} has no option {with_nearest(sorted(given - accepted), accepted)};'
            f' its options: '
            f'{", ".join(sorted(accepted)) or "none"} (in_channels comes from the block)')
    if required - given:
        raise CGDConfigError(f'{where}: {name} needs {", ".join(sorted(required - given))}'
                             f', got cfg={dict(layer_cfg)}')


def takes_plugins(kind, default_scope: str) -> bool:
    """Whether the backbone type ``kind`` takes ``plugins=`` (True when it cannot be told: not
    registered here, or ``**kwargs`` all the way up)."""
    with DefaultScope.overwrite_default_scope(default_scope), \
            MODELS.switch_scope_and_registry(None) as registry:
        cls = registry.get(kind) if isinstance(kind, str) else kind
    for klass in getattr(cls, '__mro__', ()):
        if '__init__' in vars(klass):
            params = inspect.signature(klass.__init__).parameters
            if 'plugins' in params:
                return True
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                return False
    return True


def check_backbone_plugins(model_cfg, default_scope: str = 'mmdet') -> None:
    """Raise ``CGDConfigError`` (a ``ValueError``) naming the backbone, what it accepts and what
    the config gives; ``default_scope``: the config's, where plugin types are looked up."""
    supported = ', '.join((*CGD_VARIANTS.values(), *BEFORE_NORM1_ONLY))
    if isinstance(model_cfg, dict) and model_cfg.get('_scope_'):
        default_scope = model_cfg['_scope_']  # mmengine builds the model in this scope
    for where, backbone in _backbones(model_cfg):
        kind = type_name(backbone['type'])
        plugins = backbone.get('plugins') or []
        if not isinstance(plugins, (list, tuple)):
            raise CGDConfigError(f'{where}.plugins must be a list of plugin dicts, got a '
                                 f'{type(plugins).__name__}: write plugins=[dict(...)]')
        if kind.startswith('CGD') and kind not in (*CGD_VARIANTS.values(), *BEFORE_NORM1_ONLY,
                                                   *PLUGIN_FREE):
            raise CGDConfigError(f'{where}: no backbone {kind!r}; the CGD placement '
                                 f'({BEFORE_NORM1!r}) is served by {supported}')
        if plugins and kind not in CGD_VARIANTS and not takes_plugins(backbone['type'],
                                                                      default_scope):
            rtmdet = (f"; for RTMDet's CSPNeXt use type={CGDCSPNeXt.__name__!r}, CGD as its "
                      "channel attention (attention_cfg)") if kind == 'CSPNeXt' else ''
            raise CGDConfigError(f'{where}: {kind} takes no plugins (it is not built from '
                                 f'mmdet ResNet blocks); CGD plugs into {supported}, and '
                                 f"mmdet's {', '.join(STOCK_WITH_PLUGINS)} at {STOCK_POSITIONS}"
                                 + rtmdet)
        if kind in PLUGIN_FREE:  # CGD built in: attention_cfg is checked as a plugin's cfg
            check_plugin_layer(backbone.get('attention_cfg'), f'{where}.attention_cfg',
                               default_scope)
        for i, plugin in enumerate(plugins):
            check_no_in_channels(plugin, f'{where}.plugins[{i}]')
            check_plugin_layer(plugin.get('cfg') if isinstance(plugin, dict) else None,
                               f'{where}.plugins[{i}].cfg', default_scope)
            check_position(plugin, f'{where}.plugins[{i}]', kind, backbone, supported)


def check_position(plugin, where: str, kind: str, backbone: dict, supported: str) -> None:
    """The plugin dict's keys and options, and its position, for the backbone ``kind``."""
    stages = backbone.get('num_stages', 4)
    if kind in CGD_VARIANTS.values():
        allowed = (BASIC_BLOCK_POSITIONS if backbone.get('depth') in BASIC_BLOCK_DEPTHS
                   else BOTTLENECK_POSITIONS)
        check_plugin(plugin, allowed, f'{where} ({kind})', stages)
    elif kind in BEFORE_NORM1_ONLY:
        check_plugin(plugin, (BEFORE_NORM1, ), f'{where} ({kind})')
    elif kind not in CGD_VARIANTS:
        check_plugin(plugin, STOCK_POSITIONS, f'{where} ({kind})',
                     hint=f' (the CGD placement {BEFORE_NORM1!r} is served by {supported})')
    elif backbone.get('depth') in BASIC_BLOCK_DEPTHS:
        raise CGDConfigError(
            f"{where}: mmdet's {kind}-{backbone['depth']} (BasicBlock) takes no plugins; use "
            f"type={CGD_VARIANTS[kind]!r} with position={BEFORE_NORM1!r}, which supports "
            'BasicBlock')
    elif kind == 'Res2Net':
        raise CGDConfigError(
            f"{where}: mmdet's Res2Net builds plugins for planes channels where its blocks have "
            f'width * scales, and fails at the first forward; use type={CGD_VARIANTS[kind]!r}, '
            'which builds them for the real width (and adds before_norm1)')
    else:
        hint = f' ({BEFORE_NORM1!r} needs type={CGD_VARIANTS[kind]!r})'
        check_plugin(plugin, STOCK_POSITIONS, f'{where} ({kind})', stages,
                     hint if plugin.get('position') == BEFORE_NORM1 else '')
