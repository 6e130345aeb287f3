"""Whether a checkpoint was trained with its backbone plugins where the model has them.

``before_norm1`` and ``after_conv1`` give CGD the same state-dict keys and shapes, so a strict
fit passes while the model computes something else. The Runner records the config that trained
a checkpoint in ``meta['cfg']``; here its backbone's plugins (type, position, stages and options)
are compared with the model's. Files with no recorded config (the authors', torchvision's,
published files without ``cfg``), and recorded configs whose backbone has no plugins (a plain
network given to a CGD config on purpose), are not compared; a checkpoint trained with plugins
given to a model without them is a mismatch (mmengine would drop their weights with a log line).
"""
from typing import Dict, List, Optional, Sequence

from mmdet_cgd.utils import type_name

from .fit import CheckpointMismatchError

# options that change how a plugin runs or starts, not what its loaded weights compute
RUNTIME_OPTIONS = ('inplace', 'identity_init', 'backend')


def placement(plugins: Optional[Sequence]) -> List[Dict]:
    """``plugins`` (mmdet's ``plugins=`` list) as plain comparable dicts: bare type name,
    position, stages (None for every stage) and the options besides ``RUNTIME_OPTIONS``."""
    described = []
    for plugin in plugins or []:
        if not isinstance(plugin, dict):
            described.append(dict(plugin=repr(plugin)))
            continue
        cfg = dict(plugin.get('cfg') or {})
        stages = plugin.get('stages')
        stages = None if stages is None or all(stages) else tuple(bool(s) for s in stages)
        options = {k: v for k, v in sorted(cfg.items()) if k not in RUNTIME_OPTIONS + ('type', )}
        described.append(dict(type=type_name(cfg.get('type')), position=plugin.get('position'),
                              stages=stages, **options))
    return described


def recorded_backbone_plugins(checkpoint: Dict) -> Optional[list]:
    """The backbone ``plugins`` of the config recorded in ``checkpoint['meta']['cfg']`` (the
    Runner's config text, or a dict); None when nothing is recorded or it cannot be read."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    cfg = meta.get('cfg') if isinstance(meta, dict) else None
    if isinstance(cfg, str):
        from mmengine.config import Config
        try:
            cfg = Config.fromstring(cfg, file_format='.py')
        except Exception:  # a config text that needs what this process lacks: not comparable
            return None
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    while hasattr(model, 'get') and 'module' in model and 'backbone' not in model:
        model = model['module']  # a test-time-augmentation wrapper
    backbone = model.get('backbone') if hasattr(model, 'get') else None
    return backbone.get('plugins') if hasattr(backbone, 'get') else None


def unwrap_model(model):
    """The detector (or classifier) inside DDP and test-time-augmentation wrappers."""
    while hasattr(model, 'module') and not hasattr(model, 'backbone'):
        model = model.module
    return model


def model_backbone_plugins(model) -> Optional[list]:
    """The ``plugins`` a built detector's (or classifier's) backbone, or a backbone, was given."""
    model = unwrap_model(model)
    backbone = getattr(model, 'backbone', model)
    return getattr(backbone, 'plugins', None)


def describe(plugins: List[Dict]) -> str:
    if not plugins:
        return 'none'
    return '[' + ', '.join(' '.join(f'{k}={v!r}' for k, v in p.items() if v is not None)
                           for p in plugins) + ']'


def check_placement(checkpoint: Dict, model_plugins: Optional[Sequence],
                    source: str = 'checkpoint') -> None:
    """Raise ``CheckpointMismatchError`` naming both placements when ``checkpoint`` recorded
    backbone plugins placed or configured otherwise than ``model_plugins``."""
    recorded = placement(recorded_backbone_plugins(checkpoint))
    ours = placement(model_plugins)
    if not recorded or recorded == ours:
        return
    raise CheckpointMismatchError(
        f'{source} was trained with backbone plugins {describe(recorded)}, but the model has '
        f'{describe(ours)}: the weights fit by name and shape, yet they would compute something '
        'else; use the config that trained it, or this config\'s own checkpoint')
