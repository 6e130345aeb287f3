# Plain MobileNet v1 on ImageNet-1k with the same recipe as mobilenet-cgd_8xb32_in1k.py, without
# CGD: the backbone of the baselines configs/cgd/ssd300_mobilenet_{coco,voc0712}.py (mmpretrain
# ships no MobileNet v1 to start them from).
_base_ = './mobilenet-cgd_8xb32_in1k.py'

model = dict(backbone=dict(plugins=None))
