# Faster R-CNN X-101-32x4d-FPN 1x with CGD in the paper's placement (conv1 -> CGD -> norm1) in
# every bottleneck, on mmdet's ImageNet ResNeXt weights, CGD started as the exact identity so
# step 0 is the pretrained network. CGD trains in every stage: frozen_stages=1 freezes layer1's
# convs and norms, not its CGDs (CGDResNeXt's freeze_plugins=False).
# CGD weight decay 5e-5, the rest of the detector 1e-4 (the base's weight_decay).
_base_ = './faster-rcnn_r50-cgd_fpn_1x_coco.py'  # as mmdet's X-101 config is built on its R-50

model = dict(
    backbone=dict(
        type='CGDResNeXt',
        depth=101,
        groups=32,
        base_width=4,
        plugins=[
            dict(cfg=dict(type='CGD', identity_init=True, inplace=True), position='before_norm1')
        ],
        freeze_plugins=False,
        # CGD is new (absent from ImageNet weights), the classifier unused; all else must fit
        init_cfg=dict(type='StrictPretrained', checkpoint='open-mmlab://resnext101_32x4d',
                      new_keys=['.cgd.'], unused_keys=['fc.'])))
