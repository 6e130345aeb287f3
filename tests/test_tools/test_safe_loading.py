"""Every tool that loads a checkpoint refuses a pickle that would run code."""
from tool_helpers import DEMO_CONFIG, python


def test_every_tool_refuses_the_malicious_pickle(malicious_checkpoint, tmp_path):
    path, marker = malicious_checkpoint
    runs = {
        'train --resume': ['tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path / 'w',
                           '--resume', path],
        'train load_from': ['tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path / 'w',
                            '--cfg-options', f'load_from={path}'],
        'test': ['tools/test.py', DEMO_CONFIG, path, '--work-dir', tmp_path / 't'],
        'converter': ['tools/model_converters/convert_imagenet_checkpoint.py', path, tmp_path / 'out.pth'],
        'heatmap': ['tools/analysis_tools/feature_heatmap.py', '--model', 'x', DEMO_CONFIG, path, '--images',
                    path, '--out', tmp_path / 'h.png'],
    }
    for name, args in runs.items():
        proc = python(*args, check=False)
        assert proc.returncode != 0, name
        assert 'refused to load' in proc.stderr, (name, proc.stderr[-2000:])
    assert not marker.exists()
