"""Compact Global Descriptor (CGD, arXiv 1907.09665) for MMDetection 3.x.

Importing the package registers ``CGD`` (mmengine's root MODELS) and the ``CGDResNet`` backbones
(mmdet's MODELS) and ``ReproducibleIterBasedTrainLoop``, lets the Runner's checkpoints load with
``weights_only=True`` and makes local checkpoint writes atomic; configs do it with
``custom_imports=dict(imports=['mmdet_cgd'])``.
"""
from .engine import ReproducibleIterBasedTrainLoop, use_atomic_local_writes
from .models import CGD, CGDResNet, CGDResNetV1d
from .utils import allow_mmengine_checkpoints

allow_mmengine_checkpoints()
use_atomic_local_writes()

__version__ = '0.1.0'
__all__ = ['CGD', 'CGDResNet', 'CGDResNetV1d', 'ReproducibleIterBasedTrainLoop']
