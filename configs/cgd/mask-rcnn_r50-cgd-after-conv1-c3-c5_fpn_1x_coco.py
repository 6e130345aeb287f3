# CGD plugged into mmdet's stock ResNet, the way you would add it to your own detector: three lines
# of `plugins=`. Stock `after_conv1` runs after conv1, norm1 and ReLU (not the paper's placement).
# Stock ResNet freezes a frozen stage whole, plugins included, so CGD skips layer1
# (frozen_stages=1).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

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

# Checkpoints are written atomically (temp file + rename): a run killed mid-save keeps the last
# one; they load with torch.load(weights_only=True) (log buffers saved without builtins.getattr).
# In a distributed test, rank 0 alone writes the metrics json (mmengine's LoggerHook: every rank).
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook')]
