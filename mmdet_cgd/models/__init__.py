from .backbones import CGDResNet, CGDResNetV1d
from .layers import CGD

__all__ = ['CGD', 'CGDResNet', 'CGDResNetV1d']
