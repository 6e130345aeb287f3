"""``load_detector``: mmdet's ``init_detector`` with the checkpoint read safely and verified."""
import pytest
import torch
from mmdet.apis import init_detector
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from tool_helpers import DEMO_CONFIG

from mmdet_cgd.apis import load_detector
from mmdet_cgd.checkpoint import CheckpointCorruptError


def test_a_corrupted_checkpoint_is_refused_where_init_detector_loads_it(tmp_path):
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    path = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    loaded = load_detector(str(DEMO_CONFIG), str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with open(path, 'r+b') as f:  # bytes overwritten inside tensor data
        f.seek(path.stat().st_size // 2)
        f.write(b'GARBAGEGARBAGE')
    init_detector(str(DEMO_CONFIG), str(path), device='cpu')  # mmdet's: no word
    with pytest.raises(CheckpointCorruptError, match=r'model\.pth.*corrupted: .*CRC-32'):
        load_detector(str(DEMO_CONFIG), str(path))
