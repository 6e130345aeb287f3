# Paper reproduction: Faster R-CNN R50-FPN 1x with CGD in every bottleneck, placed as the authors
# do (conv1 -> CGD -> norm1 -> ReLU), from a CGD-ResNet-50 ImageNet checkpoint.
# 8 GPUs x 2 images, lr 0.02, 12 epochs, steps at 8 and 11: all from the mmdet base.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/cgd_runtime.py'
]  # mmdet's faster-rcnn_r50_fpn_1x_coco.py, with our runtime

model = dict(
    backbone=dict(
        type='CGDResNet',
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
        freeze_plugins=True,  # CGD is pretrained too: frozen_stages=1 freezes layer1 whole
        # A CGD-ResNet-50 ImageNet checkpoint: mmpretrain's from configs/cgd_imagenet (as is) or
        # the authors' format through tools/model_converters/convert_imagenet_checkpoint.py;
        # set it with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
        # Every key must fit (CGD included): a plain ResNet file is an error, not random CGD.
        init_cfg=dict(type='StrictPretrained',
                      checkpoint='checkpoints/cgd-resnet50_imagenet.pth')))

# CGD weight decay 5e-5, the rest of the detector 1e-4 (base weight_decay=1e-4).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=0.5)}))
