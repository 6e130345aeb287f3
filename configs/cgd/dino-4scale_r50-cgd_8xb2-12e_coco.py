# DINO 4-scale R-50 (12 epochs) on the paper's CGD-ResNet-50: CGD in every bottleneck, placed as
# the authors do (conv1 -> CGD -> norm1 -> ReLU), from a CGD-ResNet-50 ImageNet checkpoint.
# Everything else is mmdet's config: AdamW lr 1e-4, the backbone at 0.1x, 8 GPUs x 2 images.
_base_ = [
    'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py', '../_base_/models/cgd-resnet50.py'
]

model = dict(backbone=_base_.cgd_resnet50)

# mmengine applies only the longest custom key a parameter's name contains: mmdet's 'backbone'
# (lr x0.1) would hide '.cgd.' (decay x0.5), so each bottleneck's CGD has a key carrying both.
cgd_in_backbone = {
    f'backbone.layer{stage}.{block}.cgd.': dict(lr_mult=0.1, decay_mult=0.5)
    for stage, blocks in enumerate((3, 4, 6, 3), start=1) for block in range(blocks)
}
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=cgd_in_backbone))

# What ../_base_/cgd_runtime.py selects, restated: mmengine refuses a key defined by two bases,
# and this base (a whole mmdet config) already holds mmdet's default runtime.
# tests/test_configs/test_documented_settings.py keeps the two the same.
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'),
                     iteration_seed=dict(type='PerIterationSeedHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook'), dict(type='CheckpointCheckHook'),
                dict(type='FiniteTrainingHook', interval=1)]
randomness = dict(seed=0)
