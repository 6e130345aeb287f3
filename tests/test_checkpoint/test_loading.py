"""Reading checkpoints: only allow-listed types unless trusted, URLs through our own download,
clear errors for broken or weights-only files; writing them atomically with ordinary modes."""
import io
import os
import pickletools
import stat
import subprocess
import sys
import zipfile
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from checkpoint_helpers import publish_checkpoint, save_stock_mmdet_checkpoint, serving
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import get_torchvision_models

from mmdet_cgd.checkpoint import (
    CheckpointError,
    check_resumable,
    find_resume_checkpoint,
    load_checkpoint_file,
    resolve_checkpoint,
    restricted_pickle,
)
from mmdet_cgd.checkpoint.loading import TRUST_ENV
from mmdet_cgd.checkpoint.safe_globals import TORCH_HAS_ALLOW_LIST
from mmdet_cgd.engine import WeightsOnlyCheckpointHook
from mmdet_cgd.utils import write_atomically


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path / 'torch_home' / 'hub' / 'checkpoints'


def test_the_loader_refuses_a_pickle_that_would_run_code(malicious_checkpoint, loader):
    path, marker = malicious_checkpoint
    with pytest.raises(CheckpointError, match="refused to load .*(?i:unsupported global).*system"
                       f".*{TRUST_ENV}=1 or pass --trust-checkpoint"):
        load_checkpoint_file(str(path))
    assert not marker.exists()


def test_a_stock_mmdet_checkpoint_needs_the_explicit_opt_in(tmp_path, monkeypatch, loader):
    path = tmp_path / 'stock.pth'
    save_stock_mmdet_checkpoint(path)
    with pytest.raises(CheckpointError, match='refused to load .*getattr'):
        load_checkpoint_file(str(path))
    monkeypatch.setenv(TRUST_ENV, '1')
    assert torch.equal(load_checkpoint_file(str(path))['state_dict']['w'], torch.ones(2))


def runner_checkpoint():
    """What the Runner saves: message hub buffers, numpy arrays and scalars."""
    buffer = HistoryBuffer()
    buffer.update(1.5)
    buffer.update(2.5)
    return dict(message_hub=dict(log_scalars={'train/loss': buffer},
                                 runtime_info=dict(eta=np.float64(3.0), ids=np.arange(3))))


def unsafe_globals(obj):
    """Every global the pickle of ``obj`` names (torch's own included), from its opcodes:
    ``torch.serialization.get_unsafe_globals_in_checkpoint`` exists from torch 2.6 only."""
    data = io.BytesIO()
    torch.save(obj, data)
    with zipfile.ZipFile(data) as archive:
        pickled = archive.read(next(n for n in archive.namelist() if n.endswith('/data.pkl')))
    # protocol 2 writes Python 2's module names (__builtin__), which unpickling maps back
    names = {arg.replace(' ', '.').replace('__builtin__.', 'builtins.')
             for op, arg, _ in pickletools.genops(pickled) if op.name == 'GLOBAL'}
    data.seek(0)
    return names, data


def load_with_our_allow_list(data):
    """torch's weights-only loader once mmdet_cgd is imported (torch >= 2.6: our types are on
    its list); older torch has no list to extend: our restricted unpickler, the same types."""
    if TORCH_HAS_ALLOW_LIST:
        return torch.load(data, weights_only=True)
    return torch.load(data, weights_only=False, pickle_module=restricted_pickle)


def test_the_config_selected_hook_saves_log_buffers_without_getattr():
    assert 'builtins.getattr' in unsafe_globals(runner_checkpoint())[0]  # mmengine's own pickling
    checkpoint = runner_checkpoint()
    WeightsOnlyCheckpointHook().before_save_checkpoint(None, checkpoint)
    unsafe, data = unsafe_globals(checkpoint)
    assert 'builtins.getattr' not in unsafe
    data.seek(0)
    loaded = load_with_our_allow_list(data)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.statistics('mean') == 2.0
    assert loaded['message_hub']['runtime_info']['eta'] == 3.0


@pytest.mark.parametrize('damage', ['truncated', 'text', 'empty', 'list', 'missing'])
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
    elif damage == 'list':
        torch.save([torch.zeros(1)], path)
        match = 'holds a list, expected a dict'
    else:
        path.unlink()
        match = 'checkpoint not found: expected a file at'
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint_file(str(path))


def test_a_url_is_downloaded_to_the_hub_cache_and_loaded_safely(tmp_path, hub_dir,
                                                                malicious_checkpoint):
    served = tmp_path / 'served'
    served.mkdir()
    torch.save(dict(state_dict={'w': torch.arange(3.)}), served / 'weights.pth')
    evil, marker = malicious_checkpoint
    (served / 'evil.pth').write_bytes(evil.read_bytes())
    with serving(served) as url:
        loaded = load_checkpoint_file(f'{url}/weights.pth')
        with pytest.raises(CheckpointError, match='refused to load'):
            load_checkpoint_file(f'{url}/evil.pth')
        with pytest.raises(CheckpointError, match='could not download .*404'):
            load_checkpoint_file(f'{url}/absent.pth')
    assert torch.equal(loaded['state_dict']['w'], torch.arange(3.))
    assert (hub_dir / 'weights.pth').is_file() and not marker.exists()
    # the server is gone: the cached copy serves
    assert resolve_checkpoint(f'{url}/weights.pth') == str(hub_dir / 'weights.pth')


def test_model_zoo_names_resolve_like_mmdets(hub_dir):
    url = get_torchvision_models()['resnet50']
    cached = hub_dir / os.path.basename(url)
    cached.parent.mkdir(parents=True)
    torch.save({'conv1.weight': torch.zeros(1)}, cached)  # no download: already in the cache
    assert resolve_checkpoint('torchvision://resnet50') == str(cached)
    with pytest.raises(CheckpointError, match="sha256 prefix '0676ba61'"):  # not torchvision's
        load_checkpoint_file('torchvision://resnet50')  # bytes: refused by the name's hash
    with pytest.raises(CheckpointError, match="unknown model name 'torchvision://resnet5000'"):
        resolve_checkpoint('torchvision://resnet5000')


def test_resuming_needs_a_training_checkpoint():
    with pytest.raises(CheckpointError, match=r"weights only.*load_from=w\.pth"):
        check_resumable({'conv.weight': torch.zeros(1)}, 'w.pth')
    check_resumable(dict(meta={}, state_dict={}, optimizer={}), 'ok.pth')


def test_resume_search_skips_weights_only_files(tmp_path):
    torch.save(dict(meta=dict(iter=2), state_dict={}, optimizer={}), tmp_path / 'iter_2.pth')
    torch.save(dict(state_dict={}), tmp_path / 'iter_4.pth')  # e.g. a published copy
    assert find_resume_checkpoint(tmp_path) == str(tmp_path / 'iter_2.pth')


@contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_atomic_writes_honour_the_umask_and_keep_an_existing_mode(tmp_path):
    with umask(0o022):
        write_atomically(b'new', tmp_path / 'a.pth')
    with umask(0o077):
        write_atomically(b'new', tmp_path / 'b.pth')
    existing = tmp_path / 'c.pth'
    existing.write_bytes(b'old')
    existing.chmod(0o664)
    with umask(0o077):
        write_atomically(b'new', existing)
    modes = [stat.S_IMODE((tmp_path / n).stat().st_mode) for n in ('a.pth', 'b.pth', 'c.pth')]
    assert modes == [0o644, 0o600, 0o664]
    assert existing.read_bytes() == b'new'


def test_published_checkpoint_loads_in_an_interpreter_without_mmdet_cgd(tmp_path):
    buffer = HistoryBuffer()
    buffer.update(1.0)
    checkpoint = dict(state_dict={'w': torch.ones(2), 'ema_w': torch.ones(2)},
                      optimizer=dict(state={}), message_hub=dict(log_scalars={'loss': buffer}),
                      meta=dict(iter=np.int64(7), eta=np.float64(1.5), classes=('a', 'b')))
    WeightsOnlyCheckpointHook().before_save_checkpoint(None, checkpoint)  # as our configs save
    torch.save(checkpoint, tmp_path / 'iter_7.pth')
    final = publish_checkpoint(str(tmp_path / 'iter_7.pth'), tmp_path / 'model.pth')
    assert os.path.basename(final).startswith('model-') and len(os.path.basename(final)) == 18
    code = ('import sys, torch; c = torch.load(sys.argv[1], weights_only=True); '
            'assert "mmdet_cgd" not in sys.modules; '
            'print(sorted(c), sorted(c["state_dict"]), c["meta"])')
    out = subprocess.run([sys.executable, '-c', code, final], capture_output=True, text=True,
                         cwd=tmp_path, check=True).stdout
    assert out.strip() == ("['meta', 'state_dict'] ['w'] "
                           "{'iter': 7, 'eta': 1.5, 'classes': ('a', 'b')}")
