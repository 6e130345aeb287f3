_base_ = './faster-rcnn_r50-cgd_fpn_1x_coco.py'

model = dict(
    backbone=dict(depth=101,
                  init_cfg=dict(checkpoint='checkpoints/cgd-resnet101_imagenet.pth')))
