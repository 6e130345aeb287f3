"""The loader on torch without a safe-load allow-list (< 2.6) unpickles through
``restricted_pickle``: the same tensors and containers as torch's weights-only loader plus
exactly our allow-list. Forced here on any torch, so the path cannot rot where it is not the
default (the compatibility job runs these on torch 2.1 too); its refusals are tested with the
default path's, in test_loading.py."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

from mmdet_cgd.checkpoint import LogBuffer, load_checkpoint_file, loading


@pytest.fixture(autouse=True)
def without_torch_allow_list(monkeypatch):
    monkeypatch.setattr(loading, 'TORCH_HAS_ALLOW_LIST', False)


def runner_like_checkpoint():
    """What our configs' Runner saves: tensors of every common dtype, log buffers without
    getattr, numpy arrays and scalars."""
    buffer = LogBuffer()
    buffer.update(1.5)
    buffer.update(2.5)
    state = OrderedDict(
        (str(dtype), torch.arange(6).to(dtype).reshape(2, 3))
        for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.bool,
                      torch.uint8))
    return dict(state_dict=state, meta=dict(seed=0, epoch=np.int64(3), shape=(2, 3)),
                message_hub=dict(log_scalars={'train/loss': buffer},
                                 runtime_info=dict(eta=np.float64(3.0), ids=np.arange(3))))


def test_a_runner_checkpoint_loads_with_every_value_intact(tmp_path):
    torch.save(runner_like_checkpoint(), tmp_path / 'runner.pth')
    loaded = load_checkpoint_file(str(tmp_path / 'runner.pth'))
    for name, tensor in runner_like_checkpoint()['state_dict'].items():
        assert loaded['state_dict'][name].dtype == tensor.dtype
        assert torch.equal(loaded['state_dict'][name], tensor), name
    assert loaded['meta'] == dict(seed=0, epoch=3, shape=(2, 3))
    hub = loaded['message_hub']
    assert isinstance(hub['log_scalars']['train/loss'], LogBuffer)
    assert hub['log_scalars']['train/loss'].mean() == 2.0
    assert hub['runtime_info']['eta'] == 3.0
    assert np.array_equal(hub['runtime_info']['ids'], np.arange(3))
