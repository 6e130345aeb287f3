"""mmdet's CSPNeXt (RTMDet's backbone) with CGD as the channel attention of its CSP layers.

Each CSP layer of mmdet 3.3 scales ``torch.cat((x_main, x_short))`` by a ``ChannelAttention``
(average pool, a C x C 1x1 conv, hard sigmoid: C^2 + C parameters) before its ``final_conv``.
Here the layer ``attention_cfg`` builds (CGD: 6C parameters, average and max pooling) takes its
place under the same name, so every other state-dict key stays mmdet's. ``torch.cat`` keeps
nothing of its output for backward, so ``CGD(inplace=True)`` is safe there.
"""
from typing import Optional

from mmdet.models.backbones import CSPNeXt
from mmdet.models.layers import CSPLayer
from mmdet.registry import MODELS

from mmdet_cgd.utils.errors import CGDConfigError

# the default, told apart by identity from an attention_cfg a config gives
CGD_ATTENTION = dict(type='CGD')


@MODELS.register_module()
class CGDCSPNeXt(CSPNeXt):
    """mmdet's CSPNeXt with the layer ``attention_cfg`` as every CSP layer's ``attention``.

    Args:
        attention_cfg: built with ``in_channels`` = the CSP layer's width there (2 x its
            hidden channels) in place of mmdet's ``ChannelAttention``; None keeps mmdet's.
            With ``channel_attention=False`` there is no attention, and giving one is an error.
        *args, **kwargs: as mmdet's CSPNeXt.
    """

    def __init__(self, *args, attention_cfg: Optional[dict] = CGD_ATTENTION, **kwargs):
        super().__init__(*args, **kwargs)
        if attention_cfg is None:
            return
        if not isinstance(attention_cfg, dict) or 'type' not in attention_cfg:
            raise CGDConfigError(
                f"{type(self).__name__}: attention_cfg must be a layer config such as "
                f"dict(type='CGD'), or None for mmdet's ChannelAttention; got {attention_cfg!r}")
        if 'in_channels' in attention_cfg:
            raise CGDConfigError(
                f'{type(self).__name__}: attention_cfg={attention_cfg!r} sets in_channels, which '
                'each CSP layer gives (its width); drop in_channels')
        csp_layers = [m for m in self.modules() if isinstance(m, CSPLayer)]
        if not all(layer.channel_attention for layer in csp_layers):
            if attention_cfg is CGD_ATTENTION:
                return
            raise CGDConfigError(
                f'{type(self).__name__}: attention_cfg={attention_cfg!r} was given with '
                'channel_attention=False, which builds no attention to replace; set '
                'channel_attention=True to use it, or drop attention_cfg')
        for layer in csp_layers:
            layer.attention = MODELS.build(
                dict(attention_cfg, in_channels=layer.attention.fc.in_channels))

    def train(self, mode: bool = True):
        super().train(mode)
        return self  # as nn.Module does; mmdet's CSPNeXt.train returns None
