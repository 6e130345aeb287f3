# RetinaNet R50-FPN 1x from torchvision ResNet-50 weights with identity-initialised CGD.
_base_ = './retinanet_r50-cgd_fpn_1x_coco.py'

model = dict(backbone=_base_.cgd_resnet50_identity)  # ../_base_/models/cgd-resnet50.py
