# Paper reproduction: Mask R-CNN R50-FPN 1x with CGD in every bottleneck, placed as the authors
# do (conv1 -> CGD -> norm1 -> ReLU), from a CGD-ResNet-50 ImageNet checkpoint.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/cgd_runtime.py',
    '../_base_/models/cgd-resnet50.py'
]  # mmdet's mask-rcnn_r50_fpn_1x_coco.py, with our runtime and the paper's backbone

model = dict(backbone=_base_.cgd_resnet50)
optim_wrapper = dict(paramwise_cfg=_base_.cgd_weight_decay)
