# The CPU demo: a slim Mask R-CNN (ResNet-18 at half width, CGD in the paper's placement in every
# block, trained from scratch) on the embedded synthetic dataset
# (demo/synthetic_coco.py).
# Sized to train and evaluate in minutes on 2 CPU cores; not a COCO recipe.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py', '../_base_/cgd_runtime.py'
]  # mmdet's mask-rcnn_r50_fpn_1x_coco.py, with our runtime

data_root = 'data/synthetic/'
metainfo = dict(
    classes=('disk', 'square', 'triangle', 'star', 'cross'),
    palette=[(220, 20, 60), (0, 128, 255), (255, 190, 0), (160, 0, 255), (0, 200, 80)])
image_size = 256
max_iters = 1000
width = 32  # channels of the first stage; ResNet-18 uses 64

model = dict(
    backbone=dict(
        type='CGDResNet',
        depth=18,
        base_channels=width,
        frozen_stages=-1,
        norm_eval=False,
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
        init_cfg=None),
    neck=dict(in_channels=[width, width * 2, width * 4, width * 8], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        # objects are 24-96 px: map 24-48 to P2, 48-96 to P3 (mmdet's 56 puts all on P2)
        bbox_roi_extractor=dict(out_channels=64, finest_scale=24),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=5),
        mask_roi_extractor=dict(out_channels=64, finest_scale=24),
        mask_head=dict(in_channels=64, conv_out_channels=64, num_classes=5)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(image_size, image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
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
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=0.5)}),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=2e-5),
]
# our runtime's hooks (atomic checkpoint writes, rank 0 writes the metrics json), at demo intervals
default_hooks = dict(
    logger=dict(interval=25, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters // 4, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(enable=False, base_batch_size=4)
