# RetinaNet R50-FPN 1x with CGD in the paper's placement, from a CGD-ResNet-50 ImageNet checkpoint.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', 'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/cgd_runtime.py',
    'mmdet::retinanet/retinanet_tta.py', '../_base_/models/cgd-resnet50.py'
]  # mmdet's retinanet_r50_fpn_1x_coco.py, with our runtime and the paper's backbone

model = dict(backbone=_base_.cgd_resnet50)
optim_wrapper = dict(  # lr 0.01 as in mmdet's RetinaNet config
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=_base_.cgd_weight_decay)
