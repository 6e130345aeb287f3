# Paper reproduction: Faster R-CNN R50-FPN 1x with CGD in every bottleneck, placed as the authors
# do (conv1 -> CGD -> norm1 -> ReLU), from a CGD-ResNet-50 ImageNet checkpoint.
# 8 GPUs x 2 images, lr 0.02, 12 epochs, steps at 8 and 11: all from the mmdet base.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/cgd_runtime.py',
    '../_base_/models/cgd-resnet50.py'
]  # mmdet's faster-rcnn_r50_fpn_1x_coco.py, with our runtime and the paper's backbone

model = dict(backbone=_base_.cgd_resnet50)
optim_wrapper = dict(paramwise_cfg=_base_.cgd_weight_decay)
