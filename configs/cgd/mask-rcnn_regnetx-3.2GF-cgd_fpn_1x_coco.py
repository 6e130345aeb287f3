# Mask R-CNN RegNetX-3.2GF-FPN 1x with CGD in the paper's placement (conv1 -> CGD -> norm1) in
# every block, on mmdet's ImageNet RegNetX weights, CGD started as the exact identity so step 0
# is the pretrained network. CGD trains in every stage: frozen_stages=1 freezes layer1's convs
# and norms, not its CGDs (CGDRegNet's freeze_plugins=False).
_base_ = 'mmdet::regnet/mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='CGDRegNet',
        plugins=[
            dict(cfg=dict(type='CGD', identity_init=True, inplace=True), position='before_norm1')
        ],
        freeze_plugins=False,
        # CGD is new (absent from ImageNet weights), the classifier unused; all else must fit
        init_cfg=dict(type='StrictPretrained', checkpoint='open-mmlab://regnetx_3.2gf',
                      new_keys=['.cgd.'], unused_keys=['fc.'])))

# CGD weight decay 5e-5: the RegNet base already trains everything at weight_decay=5e-5 (not
# mmdet's usual 1e-4), so CGD keeps decay_mult=1.0; the key makes that explicit.
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=1.0)}))

# Checkpoints are written atomically (temp file + rename): a run killed mid-save keeps the last
# one; they load with torch.load(weights_only=True) (log buffers saved without builtins.getattr).
# In a distributed test, rank 0 alone writes the metrics json (mmengine's LoggerHook: every rank).
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook')]
