# mmdet's SSDLite-MobileNetV2 (COCO, from scratch, 600 epochs) with CGD in every inverted residual
# at the CGD authors' placement: after the block's first conv, before its norm (expand 1x1 ->
# CGD -> BN -> ReLU6; the first block, which has no expand conv: depthwise 3x3 -> CGD -> BN).
# Trained from scratch, so CGD starts at the authors' init. Everything else is mmdet's config
# (the head: mmdet's SSDHead with its mmdet 3.3 predict bug fixed, PredictableSSDHead).
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'

model = dict(
    backbone=dict(
        type='CGDMobileNetV2',
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')]),
    # mmdet's SSDHead cannot predict in mmdet 3.3 (mmdet issue #11780): our drop-in fix
    bbox_head=dict(type='PredictableSSDHead'))

# What ../_base_/cgd_runtime.py selects, restated: mmengine refuses a key defined by two bases,
# and this base (a whole mmdet config) already holds mmdet's default runtime; inheriting ours
# would mean restating all of mmdet's SSDLite instead. tests/test_configs/
# test_documented_settings.py keeps the two the same.
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'),
                     iteration_seed=dict(type='PerIterationSeedHook'))
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='WeightsOnlyCheckpointHook'),
    dict(type='CheckpointCheckHook'),
    dict(type='FiniteTrainingHook', interval=1),  # mmdet's CheckInvalidLossHook, and more
]
randomness = dict(seed=0)
