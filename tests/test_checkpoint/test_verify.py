"""Corrupted checkpoint bytes are an error before anything reads them (issue #18, case 2)."""
import hashlib
import shutil

import pytest
import torch
from checkpoint_helpers import publish_checkpoint

from mmdet_cgd.checkpoint import (
    CheckpointCorruptError,
    find_resume_checkpoint,
    load_checkpoint_file,
)


def corrupt(path, offset, data=b'GARBAGEGARBAGE'):
    """``printf GARBAGEGARBAGE | dd of=PATH bs=1 seek=OFFSET conv=notrunc``"""
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(data)


def training_checkpoint(path, iteration=2):
    torch.save(dict(meta=dict(iter=iteration), optimizer={},
                    state_dict={f'layer{i}.weight': torch.randn(256, 256) for i in range(8)}),
               path)


def test_bytes_overwritten_inside_tensor_data_are_refused(tmp_path):
    path = tmp_path / 'iter_2.pth'
    training_checkpoint(path)
    corrupt(path, 1_000_000)
    assert torch.load(path, weights_only=True)  # torch itself loads the changed weights
    with pytest.raises(CheckpointCorruptError, match=r"iter_2\.pth.*corrupted: record "
                       r"'.*/data/\d+'.*CRC-32"):
        load_checkpoint_file(str(path))


def test_a_published_name_must_match_the_files_sha256(tmp_path):
    src = tmp_path / 'iter_2.pth'
    training_checkpoint(src)
    published = publish_checkpoint(str(src), tmp_path / 'cgd.pth')
    assert load_checkpoint_file(published)['state_dict']
    prefix = published[-len('12345678.pth'):-len('.pth')]
    assert hashlib.sha256(open(published, 'rb').read()).hexdigest().startswith(prefix)
    renamed = tmp_path / 'cgd-0badf00d.pth'  # same bytes, a name that promises others
    shutil.copyfile(published, renamed)
    with pytest.raises(CheckpointCorruptError, match="cgd-0badf00d.pth.*sha256 prefix '0badf00d'"):
        load_checkpoint_file(str(renamed))


def test_resume_skips_a_corrupted_newest_checkpoint_and_says_why(tmp_path, monkeypatch):
    training_checkpoint(tmp_path / 'iter_2.pth', 2)
    training_checkpoint(tmp_path / 'iter_4.pth', 4)
    corrupt(tmp_path / 'iter_4.pth', 500_000)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    logged = []  # the current MMLogger's handlers may hold another test's stream
    monkeypatch.setattr('mmdet_cgd.checkpoint.resume.print_log',
                        lambda message, **kwargs: logged.append(message))
    assert find_resume_checkpoint(tmp_path) == str(tmp_path / 'iter_2.pth')
    log = '\n'.join(logged)
    assert "--resume: skipped '" in log and "iter_4.pth'" in log and 'CRC-32' in log
