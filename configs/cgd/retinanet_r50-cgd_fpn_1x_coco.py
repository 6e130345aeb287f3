# RetinaNet R50-FPN 1x with CGD in the paper's placement, from a CGD-ResNet-50 ImageNet checkpoint.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='CGDResNet',
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
        freeze_plugins=True,
        # A CGD-ResNet-50 ImageNet checkpoint: mmpretrain's from configs/cgd_imagenet (as is) or
        # the authors' format through tools/model_converters/convert_imagenet_checkpoint.py;
        # set it with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
        # Every key must fit (CGD included): a plain ResNet file is an error, not random CGD.
        init_cfg=dict(type='StrictPretrained',
                      checkpoint='checkpoints/cgd-resnet50_imagenet.pth')))

# CGD weight decay 5e-5, the rest of the detector 1e-4 (base weight_decay=1e-4).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=0.5)}))

# Checkpoints are written atomically (temp file + rename): a run killed mid-save keeps the last
# one; they load with torch.load(weights_only=True) (log buffers saved without builtins.getattr).
# In a distributed test, rank 0 alone writes the metrics json (mmengine's LoggerHook: every rank).
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook')]
