# CGD-ResNet-101 on ImageNet-1k, the ResNet-50 recipe unchanged; pretrains the backbone of
# configs/cgd/*-rcnn_r101-cgd_fpn_1x_coco.py.
_base_ = './resnet50-cgd_8xb32_in1k.py'

model = dict(backbone=dict(depth=101))
