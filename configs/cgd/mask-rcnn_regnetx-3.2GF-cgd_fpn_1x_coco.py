# Mask R-CNN RegNetX-3.2GF-FPN 1x with CGD in the paper's placement (conv1 -> CGD -> norm1) in
# every block, on mmdet's ImageNet RegNetX weights, CGD started as the exact identity so step 0
# is the pretrained network. CGD trains in every stage: frozen_stages=1 freezes layer1's convs
# and norms, not its CGDs (CGDRegNet's freeze_plugins=False).
# The RegNet settings are mmdet's regnet/mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py, on our R-50.
# CGD weight decay 5e-5: the RegNet config already trains everything at weight_decay=5e-5 (not
# mmdet's usual 1e-4), so CGD keeps decay_mult=1.0; the key makes that explicit.
_base_ = './mask-rcnn_r50-cgd_fpn_1x_coco.py'

model = dict(
    data_preprocessor=dict(
        # the mean and std PyCls trains RegNets with
        mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395], bgr_to_rgb=False),
    backbone=dict(
        _delete_=True,
        type='CGDRegNet',
        arch='regnetx_3.2gf',
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        plugins=[
            dict(cfg=dict(type='CGD', identity_init=True, inplace=True), position='before_norm1')
        ],
        freeze_plugins=False,
        # CGD is new (absent from ImageNet weights), the classifier unused; all else must fit
        init_cfg=dict(type='StrictPretrained', checkpoint='open-mmlab://regnetx_3.2gf',
                      new_keys=['.cgd.'], unused_keys=['fc.'])),
    neck=dict(type='FPN', in_channels=[96, 192, 432, 1008], out_channels=256, num_outs=5))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.00005),
    paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=1.0)}))
