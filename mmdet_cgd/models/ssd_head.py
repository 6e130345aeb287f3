"""mmdet 3.3's SSDHead, able to predict: ``BaseDenseHead.predict_by_feat`` reads
``self.loss_cls``, which SSDHead never builds (it skips AnchorHead's ``__init__``), so every SSD
validation and inference fails with AttributeError (mmdet issues #11063, #11305, #11780)."""
from mmdet.models.dense_heads import SSDHead
from mmdet.registry import MODELS


@MODELS.register_module()
class PredictableSSDHead(SSDHead):
    """mmdet's SSDHead with ``loss_cls = None``: no custom class channels, so predictions take
    SSD's own softmax path. Same parameters, state-dict names and losses."""

    loss_cls = None
