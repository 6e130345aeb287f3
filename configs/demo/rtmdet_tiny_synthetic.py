# RTMDet-tiny (mmdet's architecture: CSPNeXt deepen 0.167, widen 0.375, its neck and head) with CGD
# as the backbone's channel attention, trained from scratch on the embedded synthetic dataset
# (demo/synthetic_coco.py): the model of .dev_scripts/compare_rtmdet_attention.py, which also
# runs it with mmdet's ChannelAttention (model.backbone.attention_cfg=None) and with none
# (model.backbone.channel_attention=False model.backbone.attention_cfg=None).
# Sized for minutes on 2 CPU cores; not a COCO recipe: no Mosaic/MixUp, no epoch-based pipeline
# switch, iterations instead of epochs; RTMDet's optimizer, flat-then-cosine lr and EMA kept.
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'

data_root = 'data/synthetic/'
metainfo = dict(
    classes=('disk', 'square', 'triangle', 'star', 'cross'),
    palette=[(220, 20, 60), (0, 128, 255), (255, 190, 0), (160, 0, 255), (0, 200, 80)])
image_size = 256
max_iters = 1000
base_lr = 0.004  # RTMDet's (AdamW)

model = dict(
    backbone=dict(
        type='CGDCSPNeXt',
        # torch.cat makes CGD's input and keeps none of it for backward: in place is safe
        attention_cfg=dict(type='CGD', inplace=True),
        init_cfg=None),  # from scratch
    bbox_head=dict(num_classes=5))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    pin_memory=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters // 4)
# CGD's weights at half RTMDet's decay and its biases (bias0-2, which bias_decay_mult does not
# see) at none, as in configs/cgd/rtmdet_tiny-cgd_8xb32-300e_coco.py; no other module matches
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    '.attention.w': dict(decay_mult=0.5), '.attention.bias': dict(decay_mult=0.0)}))
# RTMDet's shape in iterations: linear warm-up, flat, cosine to 5% over the second half
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=max_iters // 20),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, by_epoch=False, begin=max_iters // 2,
         end=max_iters),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)

# What ../_base_/cgd_runtime.py selects, restated: mmengine refuses a key defined by two bases,
# and this base (a whole mmdet config) already holds mmdet's default runtime. Logs and
# validation records stamped with iterations, at demo intervals.
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters // 4, max_keep_ckpts=2,
                                     backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook', interval=25,
                                 log_metric_by_epoch=False),
                     iteration_seed=dict(type='PerIterationSeedHook'))
log_processor = dict(by_epoch=False)
# RTMDet's EMA (its momentum decays per iteration, so it follows an iteration schedule as it
# does epochs); its PipelineSwitchHook (epoch 280: Mosaic/MixUp off) has nothing to switch here
custom_hooks = [dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
                     update_buffers=True, priority=49),
                dict(type='WeightsOnlyCheckpointHook'),
                dict(type='CheckpointCheckHook'), dict(type='FiniteTrainingHook', interval=1)]
randomness = dict(seed=0)
