# CGD-ResNet-50 on ImageNet-1k with the CGD authors' recipe (their classification/train.sh and
# imagenet.py): CGD after conv1 of every bottleneck (conv1 -> CGD -> bn1), SGD lr 0.1 for a batch of
# 256 (8 GPUs x 32), 101 epochs, lr x0.1 at 31/61/81, RandomResizedCrop 224 + flip, cross-entropy.
# Its best checkpoint is the pretrained backbone of configs/cgd/*-rcnn_r50-cgd_fpn_1x_coco.py.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        # mmdet's ResNet (through the mmdet scope): same state-dict names as mmpretrain's, and
        # the paper's placement, so the detection configs load this backbone unchanged.
        type='mmdet.CGDResNet',
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
        norm_eval=False,  # mmdet's default (True) freezes BatchNorm: wrong when training anew
        zero_init_residual=False))  # the authors' torchvision ResNet keeps every norm at 1

# Weight decay 1e-4 on every parameter (BatchNorm and biases included, as the authors' SGD does),
# 4e-5 on CGD's: decay_mult 0.4 on names containing '.cgd.'.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=0.4)}))

param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[31, 61, 81], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=101, val_interval=1)
auto_scale_lr = dict(base_batch_size=256)  # 8 GPUs x 32 images

# Keep the best top-1 checkpoint (what the authors publish) and the latest one (to resume),
# written atomically (a run killed mid-save keeps the previous file) and readable with
# torch.load(weights_only=True): the detection configs and --resume load them that way.
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1,
                    save_best='accuracy/top1', rule='greater',
                    backend_args=dict(backend='atomic_local')),
    # in a distributed test rank 0 alone writes the metrics json (mmengine's: every rank)
    logger=dict(type='MainProcessLoggerHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook'), dict(type='CheckpointCheckHook'),
                dict(type='FiniteTrainingHook', interval=1)]
randomness = dict(seed=1234)
