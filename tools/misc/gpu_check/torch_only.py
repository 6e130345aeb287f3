"""CGD's layer and ops in a process that cannot import mmdet's models yet.

``import mmdet_cgd`` registers the backbones, which import mmdet's models, which import
``mmcv.ops``: its compiled ops, still being built on a bare GPU machine while the layer's
steps run. The layer (``mmdet_cgd.models.layers.cgd``) and ``mmdet_cgd.ops`` need only torch and
mmengine, so a worker of those steps registers the two parent packages by path, without running
their ``__init__``. Only in that worker's own process (each step has one).
"""
import importlib
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def layer_class():
    """``mmdet_cgd.models.layers.cgd.CGD``, imported without mmdet."""
    for name, path in (('mmdet_cgd', REPO / 'mmdet_cgd'),
                       ('mmdet_cgd.models', REPO / 'mmdet_cgd' / 'models')):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(path)]
            sys.modules[name] = package
    return importlib.import_module('mmdet_cgd.models.layers.cgd').CGD


def mmdet_models_imported() -> bool:
    return 'mmdet.models' in sys.modules
