_base_ = './faster-rcnn_r50-cgd_fpn_1x_coco.py'

cgd_pretrained = 'checkpoints/cgd-resnet101_imagenet.pth'
model = dict(backbone=dict(depth=101, init_cfg=dict(checkpoint=cgd_pretrained)))
