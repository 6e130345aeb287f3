# The CGD authors' MobileNet-SSD300 on Pascal VOC 07+12 (their detection/mobilenet_ssd300_voc.py):
# the baseline ssd300_mobilenet_voc0712.py with CGD in every depthwise block (depthwise conv ->
# CGD -> BN -> ReLU), from a CGD-MobileNet ImageNet checkpoint
# (configs/cgd_imagenet/mobilenet-cgd_8xb32_in1k.py, as it is, or the authors' format converted).
_base_ = './ssd300_mobilenet_voc0712.py'

model = dict(
    backbone=dict(
        plugins=[dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')],
        init_cfg=dict(checkpoint='checkpoints/cgd-mobilenet_imagenet.pth')))

# CGD weight decay 5e-5 (the authors' detection train.py), the rest 4e-5 (base weight_decay).
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cgd.': dict(decay_mult=1.25)}))
