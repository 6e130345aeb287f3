# mmdet's RTMDet-tiny with CGD as the channel attention of the backbone's CSP layers, in place of
# mmdet's ChannelAttention (average pool, C x C 1x1 conv, hard sigmoid): 4,320 attention
# parameters instead of 196,560. The backbone starts from mmdet's CSPNeXt-tiny ImageNet weights,
# whose attention is the one replaced: CGD is new there, and starts as the identity.
# Everything else is mmdet's config.
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'

model = dict(
    backbone=dict(
        type='CGDCSPNeXt',
        # torch.cat makes CGD's input and keeps none of it for backward: in place is safe
        attention_cfg=dict(type='CGD', identity_init=True, inplace=True),
        # every weight but the attention's must fit (mmdet's Pretrained only logs a misfit)
        init_cfg=dict(type='StrictPretrained', new_keys=['.attention.w', '.attention.bias'],
                      unused_keys=['.attention.fc.'])))

# RTMDet's AdamW decay 0.05, none on norms and biases; CGD's weights 0.025 (half, as in the other
# CGD configs) and its biases (bias0-2, which bias_decay_mult does not see) none, as RTMDet's
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    '.attention.w': dict(decay_mult=0.5), '.attention.bias': dict(decay_mult=0.0)}))

# What ../_base_/cgd_runtime.py selects, restated: mmengine refuses a key defined by two bases,
# and this base (a whole mmdet config) already holds mmdet's default runtime. RTMDet's own hooks
# (EMA, the pipeline switch) stay first.
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'),
                     iteration_seed=dict(type='PerIterationSeedHook'))
custom_hooks = [*_base_.custom_hooks, dict(type='WeightsOnlyCheckpointHook'),
                dict(type='CheckpointCheckHook'), dict(type='FiniteTrainingHook', interval=1)]
randomness = dict(seed=0)
