# RetinaNet R50-FPN 1x from torchvision ResNet-50 weights with identity-initialised CGD.
_base_ = './retinanet_r50-cgd_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        plugins=[
            dict(cfg=dict(type='CGD', identity_init=True, inplace=True), position='before_norm1')
        ],
        freeze_plugins=False,
        # CGD is new (absent from ImageNet weights), the classifier unused; all else must fit
        init_cfg=dict(type='StrictPretrained', checkpoint='torchvision://resnet50',
                      new_keys=['.cgd.'], unused_keys=['fc.'])))
