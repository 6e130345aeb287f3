"""A checkpoint trained with CGD before norm1 is refused by a model with it after conv1: the keys
and shapes are the same, the computation is not (issue #18, case 1)."""
import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from tool_helpers import DEMO_CONFIG, tiny_run_options

from mmdet_cgd.checkpoint import CheckpointMismatchError, check_placement

# the demo with Bottleneck blocks (ResNet-18's BasicBlock has no after_conv1), same widths
BOTTLENECK = ['model.backbone.depth=50', 'model.backbone.base_channels=8']
AFTER_CONV1 = BOTTLENECK + ['model.backbone.plugins.0.position=after_conv1',
                            'model.backbone.plugins.0.cfg.inplace=False']
PLACEMENTS = r"before_norm1.*but the model has.*after_conv1"


def demo_config(options):
    from mmengine.config import DictAction
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict({k: DictAction._parse_iterable(v)
                         for k, v in (o.split('=', 1) for o in options)})
    return cfg


@pytest.fixture(scope='module')
def demo_checkpoint(tmp_path_factory):
    """The demo model's weights, with the config that made them in meta, as the Runner saves."""
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    cfg = demo_config(BOTTLENECK)
    path = tmp_path_factory.mktemp('placement') / 'iter_4.pth'
    torch.save(dict(meta=dict(cfg=cfg.pretty_text, iter=4), optimizer={},
                    state_dict=MODELS.build(cfg.model).state_dict()), path)
    return path, cfg


def test_other_position_or_stages_is_refused_and_same_placement_passes(demo_checkpoint):
    path, cfg = demo_checkpoint
    checkpoint = torch.load(path, weights_only=True)
    plugins = cfg.model.backbone.plugins
    check_placement(checkpoint, plugins)
    check_placement(checkpoint, [dict(cfg=dict(type='mmdet.CGD'), position='before_norm1')])
    check_placement(dict(state_dict={}), [dict(cfg=dict(type='CGD'), position='after_conv1')])
    with pytest.raises(CheckpointMismatchError, match=PLACEMENTS):
        check_placement(checkpoint, [dict(cfg=dict(type='CGD'), position='after_conv1')])
    with pytest.raises(CheckpointMismatchError, match=r'stages=\(False, True, True, True\)'):
        check_placement(checkpoint, [dict(plugins[0], stages=(False, True, True, True))])
    with pytest.raises(CheckpointMismatchError, match='but the model has none'):
        check_placement(checkpoint, [])  # mmengine would drop CGD's weights with a log line
    with pytest.raises(CheckpointMismatchError, match="type='ContextBlock'"):
        check_placement(checkpoint, [dict(cfg=dict(type='ContextBlock', ratio=0.25),
                                          position='before_norm1')])


def test_our_test_tool_refuses_another_placement(demo_checkpoint, tiny_coco, tmp_path):
    from mmdet_cgd.cli.test import main
    path, _ = demo_checkpoint
    with pytest.raises(SystemExit, match=f'error: checkpoint .*{PLACEMENTS}'):
        main([str(DEMO_CONFIG), str(path), '--work-dir', str(tmp_path),
              *tiny_run_options(tiny_coco), *AFTER_CONV1])


def test_mmdets_own_runner_path_refuses_it_through_our_runtime_hook(demo_checkpoint, tiny_coco,
                                                                    tmp_path):
    """What mmdet's tools/test.py and load_from do: Runner.from_cfg(cfg).test()."""
    from mmengine.runner import Runner
    path, _ = demo_checkpoint
    cfg = demo_config(tiny_run_options(tiny_coco)[1:] + AFTER_CONV1)
    cfg.work_dir, cfg.load_from = str(tmp_path), str(path)
    with pytest.raises(CheckpointMismatchError, match=PLACEMENTS):
        Runner.from_cfg(cfg).test()


def test_strict_pretrained_refuses_another_placement(demo_checkpoint):
    from mmdet.registry import MODELS
    path, cfg = demo_checkpoint
    backbone = dict(cfg.model.backbone, plugins=[dict(cfg=dict(type='CGD'),
                                                      position='after_conv1')],
                    init_cfg=dict(type='StrictPretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointMismatchError, match=PLACEMENTS):
        MODELS.build(backbone).init_weights()


def test_mmdets_init_detector_warns_of_another_placement_from_the_state_dicts_record(tmp_path):
    """init_detector runs none of our code but the model's: the backbone's state dict records
    its placement, and loading compares it (a warning; torch's own load_state_dict raises)."""
    from mmdet.apis import init_detector
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    cfg = demo_config(BOTTLENECK)
    model = MODELS.build(cfg.model)
    path = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=model.state_dict()), path)  # no meta: only the state dict tells
    with pytest.warns(UserWarning, match=PLACEMENTS):
        init_detector(demo_config(AFTER_CONV1), str(path), device='cpu')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        init_detector(cfg, str(path), device='cpu')  # the same placement: not a word
        MODELS.build(cfg.model).load_state_dict(dict(model.state_dict()))  # no record: loads
    with pytest.raises(RuntimeError, match=PLACEMENTS):
        MODELS.build(demo_config(AFTER_CONV1).model).load_state_dict(
            model.state_dict())
