# Faster R-CNN X-101-32x4d-FPN 1x with CGD in the paper's placement (conv1 -> CGD -> norm1) in
# every bottleneck, on mmdet's ImageNet ResNeXt weights, CGD started as the exact identity so
# step 0 is the pretrained network. CGD trains in every stage: frozen_stages=1 freezes layer1's
# convs and norms, not its CGDs (CGDResNeXt's freeze_plugins=False).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_x101-32x4d_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='CGDResNeXt',
        plugins=[
            dict(cfg=dict(type='CGD', identity_init=True, inplace=True), position='before_norm1')
        ],
        freeze_plugins=False,
        # CGD is new (absent from ImageNet weights), the classifier unused; all else must fit
        init_cfg=dict(type='StrictPretrained', checkpoint='open-mmlab://resnext101_32x4d',
                      new_keys=['.cgd.'], unused_keys=['fc.'])))

# CGD weight decay 5e-5, the rest of the detector 1e-4 (the base's weight_decay).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=0.5)}))

# Checkpoints are written atomically (temp file + rename): a run killed mid-save keeps the last
# one; they load with torch.load(weights_only=True) (log buffers saved without builtins.getattr).
# In a distributed test, rank 0 alone writes the metrics json (mmengine's LoggerHook: every rank).
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook')]
