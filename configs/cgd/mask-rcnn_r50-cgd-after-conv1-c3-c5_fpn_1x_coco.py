# CGD plugged into mmdet's stock ResNet, the way you would add it to your own detector: three lines
# of `plugins=`. Stock `after_conv1` runs after conv1, norm1 and ReLU (not the paper's placement).
# Stock ResNet freezes a frozen stage whole, plugins included, so CGD skips layer1
# (frozen_stages=1).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/cgd_runtime.py'
]  # mmdet's mask-rcnn_r50_fpn_1x_coco.py, with our runtime

model = dict(
    backbone=dict(
        plugins=[
            dict(cfg=dict(type='CGD', identity_init=True), position='after_conv1',
                 stages=(False, True, True, True))
        ],
        # mmdet's ImageNet weights, strictly: CGD is new, the classifier unused, all else must fit
        init_cfg=dict(type='StrictPretrained', checkpoint='torchvision://resnet50',
                      new_keys=['.cgd.'], unused_keys=['fc.'])))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=0.5)}))
