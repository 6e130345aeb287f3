import pytest
import torch

from mmdet_cgd.checkpoint import CheckpointError, find_resume_checkpoint


def save(path, value):
    """A training checkpoint as the Runner writes it (meta, weights, optimizer state)."""
    torch.save(dict(meta=dict(iter=int(value)), state_dict={'w': torch.tensor([value])},
                    optimizer={}), path)


def test_follows_last_checkpoint(tmp_path):
    save(tmp_path / 'iter_2.pth', 2.0)
    save(tmp_path / 'iter_4.pth', 4.0)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    assert find_resume_checkpoint(tmp_path) == str(tmp_path / 'iter_2.pth')


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    save(tmp_path / 'iter_2.pth', 2.0)
    save(tmp_path / 'iter_10.pth', 10.0)
    data = (tmp_path / 'iter_10.pth').read_bytes()
    (tmp_path / 'iter_10.pth').write_bytes(data[:len(data) // 3])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_10.pth'))
    assert find_resume_checkpoint(tmp_path) == str(tmp_path / 'iter_2.pth')


def test_an_empty_pointer_uses_the_furthest_readable_checkpoint(tmp_path):
    for i in (2, 4, 10):
        save(tmp_path / f'iter_{i}.pth', float(i))
    (tmp_path / 'last_checkpoint').write_text('')
    assert find_resume_checkpoint(tmp_path) == str(tmp_path / 'iter_10.pth')


def test_nothing_to_resume(tmp_path):
    assert find_resume_checkpoint(tmp_path) is None
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))  # since removed
    assert find_resume_checkpoint(tmp_path) is None


def test_checkpoints_that_all_fail_are_an_error_naming_each(tmp_path, malicious_checkpoint):
    """Not a fresh start that overwrites them (issue 26: refused files, then 'starting from
    scratch' and epoch_1.pth retrained and overwritten)."""
    tmp_path = tmp_path / 'work_dir'
    tmp_path.mkdir()
    (tmp_path / 'epoch_2.pth').write_text('no')
    torch.save(dict(state_dict={'w': torch.zeros(1)}), tmp_path / 'published.pth')
    (tmp_path / 'epoch_1.pth').write_bytes(malicious_checkpoint[0].read_bytes())
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    with pytest.raises(CheckpointError) as error:
        find_resume_checkpoint(tmp_path)
    message = str(error.value)
    assert message.startswith(f"--resume: none of the 3 checkpoint(s) in {str(tmp_path)!r} can "
                              'be resumed, and starting from scratch would overwrite them')
    for name, why in [('epoch_2.pth', 'not a readable PyTorch checkpoint'),
                      ('epoch_1.pth', 'refused to load'), ('published.pth', 'weights only')]:
        assert str(tmp_path / name) in message and why in message, name
    assert 'train without --resume to start a new run' in message
    assert not malicious_checkpoint[1].exists()
