"""Build a detector from a config and load its weights through the safe loader."""
import warnings
from typing import Union

from mmdet.apis import init_detector
from mmengine.config import Config

from mmdet_cgd.checkpoint import (
    check_fit,
    check_placement,
    load_checkpoint_file,
    model_backbone_plugins,
    unwrap_state_dict,
)


def load_detector(config: Union[str, Config], checkpoint: str, device: str = 'cpu'):
    """Like ``mmdet.apis.init_detector``, but the checkpoint (path or URL) is read with
    ``weights_only=True`` and a clear error for a missing, truncated or foreign file, and must
    fit the model exactly."""
    ckpt = load_checkpoint_file(checkpoint)
    # init_detector warns "checkpoint is None" (and resets the filters): we load it below
    with warnings.catch_warnings(record=True):
        model = init_detector(config, None, device='cpu')
    source = f'checkpoint {checkpoint!r}'
    state = unwrap_state_dict(ckpt, source)
    check_fit(model.state_dict(), state, source=source, path=checkpoint)
    check_placement(ckpt, model_backbone_plugins(model), source)
    model.load_state_dict(state, strict=False)
    meta = ckpt.get('meta', {}).get('dataset_meta')
    if meta:
        model.dataset_meta = {k.lower(): v for k, v in meta.items()}
    return model.to(device).eval()
