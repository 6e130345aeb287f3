# Deformable DETR R-50 from plain ImageNet ResNet-50 weights (torchvision://resnet50, as mmdet's
# baseline) with CGD in the paper's placement, started as the exact identity so step 0 is the
# pretrained network. CGD trains in every stage, layer1 included.
_base_ = './deformable-detr_r50-cgd_16xb2-50e_coco.py'

model = dict(backbone=_base_.cgd_resnet50_identity)  # ../_base_/models/cgd-resnet50.py
