"""Compact Global Descriptor (CGD, arXiv 1907.09665) for MMDetection 3.x.

Importing the package registers ``CGD`` (mmengine's root MODELS), the ``CGDResNet`` backbones
(mmdet's MODELS), ``ReproducibleIterBasedTrainLoop``, its hooks, the ``StrictPretrained``
weight init and the ``atomic_local`` file backend, adds mmengine's log buffers and numpy
arrays to torch's safe-load list so the Runner's checkpoints load with ``weights_only=True``, and
names ``mmdet_cgd`` as a config scope (mmengine 0.10.7 resolves ``pkg::`` only for the packages
in its ``MODULE2PACKAGE``), so ``_base_ = 'mmdet_cgd::cgd/...'`` finds the configs an installed
wheel carries under ``mmdet_cgd/.mim/``, and adds that scope's registry nodes (``registry``:
children of mmdet's) in which mmengine builds what such a config names; on torch >= 2.6 it defines
CGD's CUDA ops (``torch.ops.mmdet_cgd.cgd_*``, ``ops.triton_cgd``; their kernels module is
imported when they first run). Nothing else changes:
configs select what they want (``custom_imports=dict(imports=['mmdet_cgd'])``).
"""
from mmengine.config.utils import MODULE2PACKAGE

from .checkpoint import allow_mmengine_checkpoints
from .engine import (
    AnnotationCheckHook,
    AtomicLocalBackend,
    ReproducibleIterBasedTrainLoop,
    WeightsOnlyCheckpointHook,
)
from .models import CGD, CGDResNet, CGDResNetV1d
from .models.weight_init import StrictPretrainedInit
from .registry import SCOPE
from .version import __version__

allow_mmengine_checkpoints()
MODULE2PACKAGE.setdefault(SCOPE, 'mmdet-cgd')  # module -> distribution, as mmengine's own

__all__ = ['CGD', 'AnnotationCheckHook', 'AtomicLocalBackend', 'CGDResNet', 'CGDResNetV1d',
           'ReproducibleIterBasedTrainLoop', 'StrictPretrainedInit', 'WeightsOnlyCheckpointHook',
           '__version__']
