# The demo's baseline: the same recipe without CGD.
_base_ = './mask-rcnn_r18-cgd_fpn_synthetic.py'

model = dict(backbone=dict(plugins=None))
