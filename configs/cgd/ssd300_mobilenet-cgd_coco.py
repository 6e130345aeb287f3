# The CGD authors' MobileNet-SSD300 on COCO (their detection/mobilenet_ssd300_coco.py): the
# baseline ssd300_mobilenet_coco.py with CGD in every depthwise block, placed as they do
# (depthwise conv -> CGD -> BN -> ReLU -> pointwise conv), from a CGD-MobileNet ImageNet checkpoint
# (configs/cgd_imagenet/mobilenet-cgd_8xb32_in1k.py, as it is; or the authors' format through
# tools/model_converters/convert_imagenet_checkpoint.py). Their published result: 21.4 box AP
# (COCO test-dev).
_base_ = './ssd300_mobilenet_coco.py'

model = dict(
    backbone=dict(
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
        # Every key must fit, CGD included: a plain MobileNet file is an error, not random CGD.
        init_cfg=dict(checkpoint='checkpoints/cgd-mobilenet_imagenet.pth')))

# CGD weight decay 5e-5 (the authors' detection train.py), the rest 4e-5 (base weight_decay).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=1.25)}))
