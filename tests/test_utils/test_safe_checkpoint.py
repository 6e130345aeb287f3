"""No loader we ship unpickles arbitrary objects; broken checkpoint files are clear errors."""
import io

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from mmdet_cgd.utils import CheckpointError, load_checkpoint_file


def test_the_loader_refuses_a_pickle_that_would_run_code(malicious_checkpoint):
    path, marker = malicious_checkpoint
    with pytest.raises(CheckpointError, match="refused to load .*(?i:unsupported global).*system"):
        load_checkpoint_file(str(path))
    assert not marker.exists()


def test_mmengine_checkpoint_contents_load_without_getattr():
    """What the Runner saves: message hub buffers, numpy arrays and scalars."""
    buffer = HistoryBuffer()
    buffer.update(1.5)
    buffer.update(2.5)
    obj = dict(message_hub=dict(log_scalars={'train/loss': buffer},
                                runtime_info=dict(eta=np.float64(3.0), ids=np.arange(3))))
    data = io.BytesIO()
    torch.save(obj, data)
    data.seek(0)
    assert 'builtins.getattr' not in torch.serialization.get_unsafe_globals_in_checkpoint(data)
    data.seek(0)
    loaded = torch.load(data, weights_only=True)
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 2.0
    assert loaded['message_hub']['runtime_info']['eta'] == 3.0


@pytest.mark.parametrize('damage', ['truncated', 'text', 'empty', 'list'])
def test_damaged_files_are_clear_errors(tmp_path, damage):
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict={'w': torch.randn(1000)}), path)
    if damage == 'truncated':
        path.write_bytes(path.read_bytes()[:500])
        match = 'not a readable PyTorch checkpoint'
    elif damage == 'text':
        path.write_text('model weights go here')
        match = 'not a readable PyTorch checkpoint'
    elif damage == 'empty':
        path.write_bytes(b'')
        match = 'not a readable PyTorch checkpoint'
    else:
        torch.save([torch.zeros(1)], path)
        match = 'holds a list, expected a dict'
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint_file(str(path))
