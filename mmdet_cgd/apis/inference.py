"""Build a detector from a config and load its weights through the safe loader."""
import warnings
from typing import Union

from mmengine.config import Config
from mmdet.apis import init_detector

from mmdet_cgd.utils import load_checkpoint_file


def load_detector(config: Union[str, Config], checkpoint: str, device: str = 'cpu'):
    """Like ``mmdet.apis.init_detector``, but the checkpoint is read with ``weights_only=True``
    and a clear error for a missing, truncated or foreign file, and must fit the model exactly."""
    ckpt = load_checkpoint_file(checkpoint)
    state = ckpt.get('state_dict', ckpt)
    # init_detector warns "checkpoint is None" (and resets the filters): we load it below
    with warnings.catch_warnings(record=True):
        model = init_detector(config, None, device='cpu')
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f'{checkpoint!r} does not fit the model of {config}: missing '
            f'{result.missing_keys[:5]} ({len(result.missing_keys)}), unexpected '
            f'{result.unexpected_keys[:5]} ({len(result.unexpected_keys)})')
    meta = ckpt.get('meta', {}).get('dataset_meta')
    if meta:
        model.dataset_meta = {k.lower(): v for k, v in meta.items()}
    return model.to(device).eval()
