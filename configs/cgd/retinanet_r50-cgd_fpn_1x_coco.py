# RetinaNet R50-FPN 1x with CGD in the paper's placement, from a CGD-ResNet-50 ImageNet checkpoint.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

cgd_pretrained = 'checkpoints/cgd-resnet50_imagenet.pth'

model = dict(
    backbone=dict(
        type='CGDResNet',
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
        freeze_plugins=True,
        init_cfg=dict(type='Pretrained', checkpoint=cgd_pretrained)))

# CGD weight decay 5e-5, the rest of the detector 1e-4 (base weight_decay=1e-4).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=0.5)}))
