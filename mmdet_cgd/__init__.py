"""Compact Global Descriptor (CGD, arXiv 1907.09665) for MMDetection 3.x.

Importing the package registers ``CGD`` (mmengine's root MODELS) and the ``CGDResNet`` backbones
(mmdet's MODELS); configs do it with ``custom_imports=dict(imports=['mmdet_cgd'])``.
"""
from .models import CGD, CGDResNet, CGDResNetV1d

__version__ = '0.1.0'
__all__ = ['CGD', 'CGDResNet', 'CGDResNetV1d']
