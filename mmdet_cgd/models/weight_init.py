"""``init_cfg=dict(type='StrictPretrained', ...)``: pretrained weights that must fit the module.

mmengine's ``Pretrained`` loads with ``strict=False`` and only logs what did not match. This
initializer raises at ``init_weights()`` instead (so also under mmdet's own train.py), naming the
missing and unexpected keys; keys a config adds on purpose are declared with ``new_keys``.
"""
from typing import Optional, Sequence

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.model.weight_init import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS

from mmdet_cgd.checkpoint import (
    CheckpointError,
    check_fit,
    check_placement,
    load_checkpoint_file,
    model_backbone_plugins,
    select_weights,
    unwrap_state_dict,
)


def _init_children_first(module) -> None:
    """Run the children's own init now, as mmengine does before ``Pretrained``, and mark them
    done, so nothing overwrites the loaded weights afterwards."""
    for child in module.children():
        if is_model_wrapper(child) and not hasattr(child, 'init_weights'):
            child = child.module
        if hasattr(child, 'init_weights') and not getattr(child, 'is_init', False):
            child.init_weights()
            child.is_init = True


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrainedInit:
    """Load a checkpoint into the module; every key must fit, in name and shape.

    Args:
        checkpoint: a path, http(s) URL, ``torchvision://`` or ``open-mmlab://`` name; read
            with ``weights_only=True``.
        prefix: load only the keys under this prefix (e.g. ``'backbone.'``); by default a
            ``backbone.`` part is found by itself.
        new_keys: substrings of module keys the checkpoint may lack: modules the config adds on
            purpose (``['.cgd.']`` for CGD inserted into a plain ResNet).
        unused_keys: substrings of checkpoint keys the module has no place for (``['fc.']``,
            an ImageNet classifier).
        map_location: as ``torch.load``.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                 new_keys: Sequence[str] = (), unused_keys: Sequence[str] = (),
                 map_location: str = 'cpu'):
        if not isinstance(checkpoint, str) or not checkpoint:
            raise CheckpointError(
                f'StrictPretrained: checkpoint must be a path or URL, got {checkpoint!r}; to '
                'train this backbone from scratch drop its init_cfg instead (--cfg-options '
                'model.backbone.init_cfg=None)')
        self.checkpoint, self.prefix, self.map_location = checkpoint, prefix, map_location
        for name, keys in (('new_keys', new_keys), ('unused_keys', unused_keys)):
            if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
                raise TypeError(f'StrictPretrained: {name} must be a list of key substrings '
                                f"such as ['.cgd.'], got {keys!r}")
        self.new_keys, self.unused_keys = list(new_keys), list(unused_keys)

    def __call__(self, module) -> None:
        _init_children_first(module)
        source = f'pretrained weights {self.checkpoint!r}'
        checkpoint = load_checkpoint_file(self.checkpoint, self.map_location)
        state = unwrap_state_dict(checkpoint, source)
        expected = module.state_dict()
        state = select_weights(state, expected, self.prefix, source)
        check_fit(expected, state, self.new_keys, self.unused_keys, source,
                  hint='set another file with --cfg-options '
                  'model.backbone.init_cfg.checkpoint=PATH', path=self.checkpoint)
        check_placement(checkpoint, model_backbone_plugins(module), source)
        module.load_state_dict(state, strict=False)
        print_log(f'loaded {len(state)} tensors into {type(module).__name__} from '
                  f'{self.checkpoint} (new: {self.new_keys or "none"})', logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'StrictPretrained: load from {self.checkpoint}')
