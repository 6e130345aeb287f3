# MobileNet-SSD300 on Pascal VOC 07+12 with the CGD authors' recipe (their
# detection/mobilenet_ssd300_voc.py), without CGD: the baseline of ssd300_mobilenet-cgd_voc0712.py.
# The COCO baseline's model and augmentation (ssd300_mobilenet_coco.py: stride-1 stem, blocks 10
# and 12 plus four extra conv pairs), with 20 classes, anchor base sizes 0.2-0.9, 2 GPUs x 16
# images, lr 1e-3, VOC 2007+2012 trainval x10, 24 epochs with lr x0.1 at 16 and 20 (their file;
# mmdet's ssd300_voc0712 has the same steps), evaluated on VOC 2007 test (11-point mAP).
_base_ = [
    'mmdet::_base_/models/ssd300.py', 'mmdet::_base_/datasets/voc0712.py',
    'mmdet::_base_/schedules/schedule_2x.py', '../_base_/cgd_runtime.py'
]  # mmdet's ssd300_voc0712.py, with our runtime

input_size = 300
model = dict(
    backbone=dict(
        _delete_=True,
        type='CGDMobileNet',
        stem_stride=1,
        out_indices=(10, 12),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(type='StrictPretrained', checkpoint='checkpoints/mobilenet_imagenet.pth')),
    neck=dict(
        in_channels=(512, 1024),
        out_channels=(512, 1024, 512, 256, 256, 256),
        level_strides=(2, 2, 1, 1),
        level_paddings=(1, 1, 0, 0),
        l2_norm_scale=None,
        norm_cfg=dict(type='BN', momentum=0.01)),
    bbox_head=dict(  # PredictableSSDHead: mmdet's SSDHead, able to predict in mmdet 3.3
        type='PredictableSSDHead', num_classes=20,
        anchor_generator=dict(basesize_ratio_range=(0.2, 0.9))))

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
voc = dict(type={{_base_.dataset_type}}, data_root={{_base_.data_root}},
           filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    batch_sampler=None,
    dataset=dict(
        times=10,
        dataset=dict(datasets=[
            dict(voc, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/')),
            dict(voc, ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/')),
        ])))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=4e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 20], gamma=0.1)
]
train_cfg = dict(max_epochs=24)

# mmdet's SSD check, then our runtime's hooks (FiniteTrainingHook: mmdet's CheckInvalidLossHook
# every iteration, and more)
custom_hooks = [dict(type='NumClassCheckHook'), *_base_.custom_hooks]

# base_batch_size = (2 GPUs) x (16 images per GPU), the authors' setting for lr 1e-3
auto_scale_lr = dict(base_batch_size=32)
