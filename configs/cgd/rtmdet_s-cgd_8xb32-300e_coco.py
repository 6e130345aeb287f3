# mmdet's RTMDet-s with CGD as the channel attention of the backbone's CSP layers, in place of
# mmdet's ChannelAttention: 5,760 attention parameters instead of 349,120; from mmdet's
# CSPNeXt-s ImageNet weights. Everything else as ./rtmdet_tiny-cgd_8xb32-300e_coco.py says.
_base_ = 'mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py'

model = dict(
    backbone=dict(
        type='CGDCSPNeXt',
        attention_cfg=dict(type='CGD', identity_init=True, inplace=True),
        init_cfg=dict(type='StrictPretrained', new_keys=['.attention.w', '.attention.bias'],
                      unused_keys=['.attention.fc.'])))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    '.attention.w': dict(decay_mult=0.5), '.attention.bias': dict(decay_mult=0.0)}))

# ../_base_/cgd_runtime.py, restated (see the tiny config)
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'),
                     iteration_seed=dict(type='PerIterationSeedHook'))
custom_hooks = [*_base_.custom_hooks, dict(type='WeightsOnlyCheckpointHook'),
                dict(type='CheckpointCheckHook'), dict(type='FiniteTrainingHook', interval=1)]
randomness = dict(seed=0)
