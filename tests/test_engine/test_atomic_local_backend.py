"""A checkpoint path holds the old file or the new one, never half of one."""
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend
from mmengine.runner.checkpoint import save_checkpoint

import mmdet_cgd  # noqa: F401
from mmdet_cgd.engine import AtomicLocalBackend
from mmdet_cgd.utils import write_atomically

ATOMIC = dict(backend='atomic_local')


def test_importing_mmdet_cgd_leaves_mmengines_local_backend_alone(tmp_path):
    assert type(get_file_backend(str(tmp_path / 'x.pth'))) is LocalBackend
    code = ('import os, mmdet_cgd; from mmengine.fileio import dump; '
            'os.umask(0o022); dump({"a": 1}, "out.json")')
    subprocess.run([sys.executable, '-c', code], cwd=tmp_path, check=True)
    assert stat.S_IMODE((tmp_path / 'out.json').stat().st_mode) == 0o644


def test_configs_select_atomic_writes_by_backend_name(tmp_path):
    assert isinstance(get_file_backend(str(tmp_path), backend_args=ATOMIC), AtomicLocalBackend)
    target = tmp_path / 'sub' / 'x.pth'
    save_checkpoint(dict(state_dict={'w': torch.ones(3)}), str(target), backend_args=ATOMIC)
    assert torch.equal(torch.load(target, weights_only=True)['state_dict']['w'], torch.ones(3))
    assert [p.name for p in (tmp_path / 'sub').iterdir()] == ['x.pth']  # no temp file left


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / 'ckpt.pth'
    target.write_bytes(b'old and good')

    def broken_fsync(fd):
        raise OSError('disk full')

    monkeypatch.setattr('os.fsync', broken_fsync)
    with pytest.raises(OSError, match='disk full'):
        write_atomically(b'new' * 1000, target)
    assert target.read_bytes() == b'old and good'
    assert [p.name for p in tmp_path.iterdir()] == ['ckpt.pth']


def test_sigkill_during_a_checkpoint_save_leaves_the_previous_one_usable(tmp_path):
    target = tmp_path / 'latest.pth'
    save_checkpoint(dict(state_dict={'w': torch.zeros(4)}), str(target), backend_args=ATOMIC)
    # a child saves a ~400 MB checkpoint over it; we kill it while the bytes are being written
    child = subprocess.Popen([sys.executable, '-c', textwrap.dedent(f'''
        import torch, mmdet_cgd
        from mmengine.runner.checkpoint import save_checkpoint
        big = {{f'w{{i}}': torch.ones(25_000_000) for i in range(4)}}
        save_checkpoint(dict(state_dict=big), {str(target)!r},
                        backend_args=dict(backend='atomic_local'))
        ''')])
    deadline = time.time() + 120
    while not any(p.name.endswith('.tmp') for p in tmp_path.iterdir()):
        assert child.poll() is None, 'the child finished before it could be killed'
        assert time.time() < deadline
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    loaded = torch.load(target, weights_only=True)
    assert torch.equal(loaded['state_dict']['w'], torch.zeros(4))
