"""Compact Global Descriptor (CGD, arXiv 1907.09665) for MMDetection 3.x.

Importing the package registers its modules (the ``CGD`` layer, the CGD backbones, the hooks,
``StrictPretrained``, the ``atomic_local`` backend), adds mmengine's log buffers and numpy
arrays to torch's safe-load list (the Runner's checkpoints load with ``weights_only=True``),
names ``mmdet_cgd`` as a config scope (``mmdet_cgd::cgd/...`` finds the configs a wheel carries;
``registry`` holds the scope's nodes) and, on torch >= 2.6, defines CGD's CUDA ops. Nothing else
changes: configs select what they want.
"""
from mmengine.config.utils import MODULE2PACKAGE

from .checkpoint import allow_mmengine_checkpoints
from .engine import AtomicLocalBackend, PerIterationSeedHook, WeightsOnlyCheckpointHook
from .models import CGD, CGDResNet, CGDResNetV1d
from .models.weight_init import StrictPretrainedInit
from .registry import SCOPE
from .version import __version__

allow_mmengine_checkpoints()
MODULE2PACKAGE.setdefault(SCOPE, 'mmdet-cgd')  # module -> distribution, as mmengine's own

__all__ = ['CGD', 'AtomicLocalBackend', 'CGDResNet', 'CGDResNetV1d', 'PerIterationSeedHook',
           'StrictPretrainedInit', 'WeightsOnlyCheckpointHook', '__version__']
