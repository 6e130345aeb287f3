# The paper's backbone for an mmdet ResNet-50 detector: CGD in every bottleneck, placed as the
# authors do (conv1 -> CGD -> norm1 -> ReLU), from a CGD-ResNet-50 ImageNet checkpoint, and CGD's
# weight decay half the rest's, for a config that lists it among its bases to use:
#     model = dict(backbone=_base_.cgd_resnet50)
#     optim_wrapper = dict(paramwise_cfg=_base_.cgd_weight_decay)
# and, in a config based on one of those, the identity variant over it:
#     model = dict(backbone=_base_.cgd_resnet50_identity)
cgd_resnet50 = dict(
    type='CGDResNet',
    plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
    freeze_plugins=True,  # CGD is pretrained too: frozen_stages=1 freezes layer1 whole
    # A CGD-ResNet-50 ImageNet checkpoint: mmpretrain's from configs/cgd_imagenet (as is) or
    # the authors' format through tools/model_converters/convert_imagenet_checkpoint.py;
    # set it with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
    # Every key must fit (CGD included): a plain ResNet file is an error, not random CGD.
    init_cfg=dict(type='StrictPretrained',
                  checkpoint='checkpoints/cgd-resnet50_imagenet.pth'))

# CGD weight decay 5e-5 where the detector's is 1e-4.
cgd_weight_decay = dict(custom_keys={'.cgd.': dict(decay_mult=0.5)})

# What most users can run today: plain ImageNet ResNet-50 weights (torchvision://resnet50) with
# CGD in the paper's placement, started as the exact identity so step 0 is the pretrained network.
# CGD trains in every stage, layer1 included: CGDResNet keeps plugins trainable in frozen stages.
cgd_resnet50_identity = dict(
    plugins=[dict(cfg=dict(type='CGD', identity_init=True, inplace=True), position='before_norm1')],
    freeze_plugins=False,
    # CGD is new (absent from ImageNet weights), the classifier unused; all else must fit
    init_cfg=dict(type='StrictPretrained', checkpoint='torchvision://resnet50',
                  new_keys=['.cgd.'], unused_keys=['fc.']))
