# mmdet's CSPNeXt-tiny ImageNet-1k pretraining (mmpretrain's RSB-A1 recipe: Lamb, 600 epochs,
# batch 8 x 256, Mixup/CutMix, label smoothing), unchanged but for CGD as the channel attention
# of the CSP layers, in place of mmdet's ChannelAttention: a CGD-CSPNeXt-tiny backbone for
# configs/cgd/rtmdet_tiny-cgd_8xb32-300e_coco.py, where mmdet's CSPNeXt weights lack CGD.
_base_ = 'mmdet::rtmdet/classification/cspnext-tiny_8xb256-rsb-a1-600e_in1k.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

model = dict(
    # built in mmpretrain's registry: mmengine scopes the model of an mmdet:: base to mmdet,
    # which has no ImageClassifier
    _scope_='mmpretrain',
    # our backbone through the mmdet scope, as the RTMDet config builds it: the same names
    backbone=dict(type='mmdet.CGDCSPNeXt', attention_cfg=dict(type='CGD', inplace=True)))

# the recipe's Lamb decay 0.01, none on norms and biases; CGD's weights half (as in the
# detection configs) and its biases (bias0-2, which bias_decay_mult does not see) none
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    '.attention.w': dict(decay_mult=0.5), '.attention.bias': dict(decay_mult=0.0)}))

# As the other configs here: keep the best top-1 checkpoint and the latest one (not all 600),
# written atomically and readable with torch.load(weights_only=True).
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1,
                    save_best='accuracy/top1', rule='greater',
                    backend_args=dict(backend='atomic_local')),
    logger=dict(type='MainProcessLoggerHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook'), dict(type='CheckpointCheckHook'),
                dict(type='FiniteTrainingHook', interval=1)]
