# DINO 4-scale R-50 from plain ImageNet ResNet-50 weights (torchvision://resnet50, as mmdet's
# baseline) with CGD in the paper's placement, started as the exact identity so step 0 is the
# pretrained network. CGD trains in every stage, layer1 included.
_base_ = './dino-4scale_r50-cgd_8xb2-12e_coco.py'

model = dict(
    backbone=dict(
        plugins=[
            dict(cfg=dict(type='CGD', identity_init=True, inplace=True), position='before_norm1')
        ],
        freeze_plugins=False,
        # CGD is new (absent from ImageNet weights), the classifier unused; all else must fit
        init_cfg=dict(type='StrictPretrained', checkpoint='torchvision://resnet50',
                      new_keys=['.cgd.'], unused_keys=['fc.'])))
