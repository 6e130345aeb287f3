from .cgd_resnet import CGDBasicBlock, CGDBottleneck, CGDResNet, CGDResNetV1d

__all__ = ['CGDBasicBlock', 'CGDBottleneck', 'CGDResNet', 'CGDResNetV1d']
