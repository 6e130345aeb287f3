import torch

from mmdet_cgd.checkpoint import find_resume_checkpoint


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
    (tmp_path / 'junk.pth').write_text('no')
    assert find_resume_checkpoint(tmp_path) is None
