from mmdet_cgd.utils.errors import CGDConfigError  # noqa: F401 (what a bad CGD set-up raises)

from .backbones import *  # noqa: F401,F403 (as mmdet's models/__init__.py)
from .layers import CGD  # noqa: F401
from .ssd_head import PredictableSSDHead  # noqa: F401
from .weight_init import StrictPretrainedInit  # noqa: F401 (registers type='StrictPretrained')
