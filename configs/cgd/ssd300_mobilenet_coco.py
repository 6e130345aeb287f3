# MobileNet-SSD300 on COCO with the CGD authors' recipe (their detection/mobilenet_ssd300_coco.py),
# on mmdet 3.3's SSDNeck/SSDHead and data pipeline, without CGD: the baseline of
# ssd300_mobilenet-cgd_coco.py, from a plain MobileNet v1 ImageNet checkpoint
# (configs/cgd_imagenet/mobilenet_8xb32_in1k.py).
# - Backbone: MobileNet v1 with the authors' stride-1 stem (their code, ImageNet and detection):
#   blocks 10 and 12 (512 and 1024 channels) come out at strides 8 and 16, 38x38 and 19x19 at
#   300x300, as their anchor strides (8, 16, ...) and in_channels say. With the standard stride-2
#   stem they would be 19x19 and 10x10. The weights are the same either way.
# - Four extra conv pairs (1x1, then 3x3 stride 2 twice and 3x3 unpadded twice): 10, 5, 3, 1; conv +
#   BN (momentum 0.01) + ReLU as their BasicConv; no L2Norm (mmdet's VGG SSD has one, theirs not).
# - 4 GPUs x 16 images, SGD lr 2e-3, momentum 0.9, weight decay 4e-5, COCO x5 (RepeatDataset),
#   24 epochs, lr x0.1 at 16 and 22, linear warm-up over 500 iterations from 1/3.
_base_ = [
    'mmdet::_base_/models/ssd300.py', 'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_2x.py', '../_base_/cgd_runtime.py'
]  # mmdet's ssd300_coco.py, with our runtime

input_size = 300
model = dict(
    backbone=dict(
        _delete_=True,
        type='CGDMobileNet',
        stem_stride=1,
        out_indices=(10, 12),
        frozen_stages=-1,
        norm_eval=False,  # the authors' bn_eval=False: BatchNorm keeps training
        # Every key must fit: set another file with
        # --cfg-options model.backbone.init_cfg.checkpoint=PATH
        init_cfg=dict(type='StrictPretrained', checkpoint='checkpoints/mobilenet_imagenet.pth')),
    neck=dict(
        in_channels=(512, 1024),
        out_channels=(512, 1024, 512, 256, 256, 256),
        level_strides=(2, 2, 1, 1),
        level_paddings=(1, 1, 0, 0),
        l2_norm_scale=None,
        norm_cfg=dict(type='BN', momentum=0.01)),
    # SSDHead from the base: in_channels (512, 1024, 512, 256, 256, 256), anchor strides
    # (8, 16, 32, 64, 100, 300), ratios ([2], [2, 3], [2, 3], [2, 3], [2], [2]), 0.15-0.9
    # mmdet's SSDHead, which cannot predict in mmdet 3.3 (mmdet issue #11780): our drop-in fix
    bbox_head=dict(type='PredictableSSDHead', num_classes=80))

# Their augmentation order (old mmdet's extra_aug): photometric distortion, expand, min-IoU crop,
# then resize to 300x300 and flip; mean subtraction with std 1 (the base data_preprocessor).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.5, 1.5),
         saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1, 4)),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=16,
    num_workers=3,
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=5,
        dataset=dict(
            type={{_base_.dataset_type}},
            data_root={{_base_.data_root}},
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=train_pipeline)))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=2e-3, momentum=0.9, weight_decay=4e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22], gamma=0.1)
]
train_cfg = dict(max_epochs=24)

# mmdet's SSD check, then our runtime's hooks (FiniteTrainingHook: mmdet's CheckInvalidLossHook
# every iteration, and more)
custom_hooks = [dict(type='NumClassCheckHook'), *_base_.custom_hooks]

# base_batch_size = (4 GPUs) x (16 images per GPU), the authors' setting for lr 2e-3
auto_scale_lr = dict(base_batch_size=64)
