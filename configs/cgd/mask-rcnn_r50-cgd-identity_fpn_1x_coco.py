# What most users can run today: plain ImageNet ResNet-50 weights (torchvision://resnet50) with
# CGD in the paper's placement, started as the exact identity so step 0 is the pretrained network.
# CGD trains in every stage, layer1 included.
_base_ = './mask-rcnn_r50-cgd_fpn_1x_coco.py'

model = dict(backbone=_base_.cgd_resnet50_identity)  # ../_base_/models/cgd-resnet50.py
