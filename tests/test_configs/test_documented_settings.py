"""What the README and requirements say about the configs and the set-up is what they are (#26,
case 7), and the detection configs select what configs/_base_/cgd_runtime.py selects, also where
they cannot inherit it (SSDLite's base is a whole mmdet config: mmengine refuses a key two bases
define)."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
DETECTION = [p for p in CONFIGS if p.parent.name in ('cgd', 'demo')]


def test_the_readme_gives_every_base_batch_of_auto_scale_lr():
    sentence = next(s for s in re.split(r'(?<=\.)\s', (REPO / 'README.md').read_text())
                    if '--auto-scale-lr' in s)
    numbers = set(re.findall(r'\d+', sentence))
    for path in CONFIGS:
        scale = Config.fromfile(str(path)).get('auto_scale_lr')
        if scale and scale.get('enable', True) is not False:
            assert str(scale.base_batch_size) in numbers, (path.name, sentence)


def test_requirements_name_files_that_exist():
    for path in (REPO / 'requirements').glob('*.txt'):
        for name in re.findall(r'\btools/[\w./-]+\w', path.read_text()):
            assert (REPO / name).exists(), (path.name, name)


@pytest.mark.parametrize('path', DETECTION, ids=lambda p: p.stem)
def test_detection_configs_select_our_runtime(path):
    runtime = Config.fromfile(str(REPO / 'configs' / '_base_' / 'cgd_runtime.py'))
    mmdets = Config.fromstring("_base_ = 'mmdet::_base_/default_runtime.py'", '.py')
    cfg = Config.fromfile(str(path))
    for name in set(runtime.default_hooks) - set(mmdets.default_hooks):  # hooks ours adds
        assert cfg.default_hooks.get(name) == runtime.default_hooks[name], name
    assert cfg.custom_imports == runtime.custom_imports
    assert cfg.randomness == runtime.randomness
    assert cfg.default_hooks.checkpoint.backend_args == \
        runtime.default_hooks.checkpoint.backend_args
    assert cfg.default_hooks.logger.type == runtime.default_hooks.logger.type
    assert [h for h in cfg.custom_hooks if h.type != 'NumClassCheckHook'] == runtime.custom_hooks
