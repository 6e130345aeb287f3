"""Smaller edges of the tools (issue #18, cases 3 and 7): mmdet's --tta, a directory given as
the config, randomness.deterministic without a seed."""
import argparse
import os
import re

import mmdet
import pytest
from mmengine.config import Config, DictAction
from mmengine.runner.utils import set_random_seed
from tool_helpers import DEMO_CONFIG

from mmdet_cgd.cli.common import load_tool_config
from mmdet_cgd.cli.test import apply_tta
from mmdet_cgd.cli.test import parse_args as parse_test_args
from mmdet_cgd.cli.train import parse_args as parse_train_args
from mmdet_cgd.cli.train import prepare_config

MMDET_TOOLS = os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'tools')


def tool_args(config, *options):
    return argparse.Namespace(config=str(config), launcher='none', work_dir=None,
                              cfg_options={k: DictAction._parse_iterable(v) for k, v in
                                           (o.split('=', 1) for o in options)} or None)


@pytest.mark.parametrize('tool, parse', [('train', parse_train_args), ('test', parse_test_args)])
def test_our_tools_accept_every_option_of_mmdets(tool, parse):
    source = open(os.path.join(MMDET_TOOLS, f'{tool}.py')).read()
    options = set(re.findall(r"add_argument\(\s*'(--[\w-]+)'", source))
    assert '--tta' in options or tool == 'train'
    positional = ['c.py', 'c.pth'] if tool == 'test' else ['c.py']
    for option in options - {'--resume', '--cfg-options', '--launcher', '--out', '--show-dir',
                             '--work-dir', '--wait-time', '--local_rank', '--local-rank'}:
        parse([*positional, option])  # a flag each: exits on an unknown option


def test_tta_wraps_the_model_and_flips_as_mmdet_does():
    cfg = Config.fromfile(DEMO_CONFIG)
    detector = cfg.model.copy()
    apply_tta(cfg)
    assert cfg.model.type == 'DetTTAModel' and cfg.model.module == detector
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'


def test_a_directory_as_config_says_so(tmp_path):
    (tmp_path / 'a.py').write_text('x = 1\n')
    with pytest.raises(ValueError, match="expected a config file, got the directory .*'a.py'"):
        load_tool_config(tool_args(str(tmp_path) + '/'))


def test_deterministic_without_a_seed_runs(tmp_path):
    (tmp_path / 'c.py').write_text('model = dict()\nrandomness = dict(deterministic=True)\n')
    cfg = load_tool_config(tool_args(tmp_path / 'c.py'))
    assert cfg.randomness == dict(deterministic=True, seed=None)
    set_random_seed(**cfg.randomness)  # mmengine's Runner: set_randomness(**randomness)
    demo = load_tool_config(tool_args(DEMO_CONFIG, 'randomness.deterministic=True'))
    assert demo.randomness == dict(seed=0, deterministic=True)


def test_a_file_that_is_no_model_config_says_so(tmp_path):
    (tmp_path / 'instances_val.json').write_text('{"images": [], "annotations": []}')
    with pytest.raises(ValueError, match=r"expected a detection config .*defines model=.*got "
                       r".*instances_val.json'.*\['annotations', 'images'\]"):
        load_tool_config(tool_args(tmp_path / 'instances_val.json'))


def test_resume_over_only_unreadable_checkpoints_stops_and_over_none_starts_fresh(tmp_path):
    """Not mmengine's fallback to last_checkpoint, which names the file just skipped, and not a
    fresh start that would overwrite it (#26, item 1)."""
    from mmdet_cgd.checkpoint import CheckpointError
    args = parse_train_args([str(DEMO_CONFIG), '--work-dir', str(tmp_path), '--resume',
                             '--skip-data-check'])
    cfg = prepare_config(args)
    assert cfg.load_from is None and cfg.resume is False
    (tmp_path / 'iter_2.pth').write_bytes(b'PK not a checkpoint')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    with pytest.raises(CheckpointError, match=r"none of the 1 checkpoint\(s\) .* can be resumed"
                                              r".*iter_2.pth"):
        prepare_config(args)


def test_strict_pretrained_without_a_checkpoint_says_how_to_train_from_scratch():
    from mmdet_cgd.checkpoint import CheckpointError
    from mmdet_cgd.models.weight_init import StrictPretrainedInit
    with pytest.raises(CheckpointError, match=r'got None; .*init_cfg=None'):
        StrictPretrainedInit(checkpoint=None)


def test_a_checkpoint_given_as_the_config_says_the_config_comes_first(tmp_path):
    """mmengine: "OSError: Only py/yml/yaml/json type are supported now!"."""
    import torch

    from mmdet_cgd.cli.test import main as test_main
    from mmdet_cgd.cli.train import main as train_main
    torch.save({'state_dict': {}}, tmp_path / 'epoch_1.pth')
    (tmp_path / 'weights').write_bytes((tmp_path / 'epoch_1.pth').read_bytes())
    (tmp_path / 'notes.txt').write_text('lr 0.02')
    cases = [(test_main, [tmp_path / 'epoch_1.pth', DEMO_CONFIG]),
             (train_main, [tmp_path / 'weights']), (train_main, [tmp_path / 'notes.txt'])]
    messages = []
    for main, argv in cases:
        with pytest.raises(SystemExit) as exit_:
            main([str(a) for a in argv])
        messages.append(str(exit_.value.code))
    assert all(m.startswith('error: expected a config file (.py/.yml/.yaml/.json)')
               for m in messages)
    assert "got the checkpoint '" in messages[0] and 'epoch_1.pth' in messages[0]
    assert 'the config comes first: tools/test.py CONFIG CHECKPOINT' in messages[0]
    assert "got the checkpoint '" in messages[1]  # found by its bytes, whatever its name
    assert messages[2].endswith("notes.txt'")
