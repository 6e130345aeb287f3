"""Training stops at the first non-finite loss, naming the iteration, and never saves a model
holding NaN (issue #18, case 6)."""
import math

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from tool_helpers import DEMO_CONFIG, tiny_run_options

from mmdet_cgd.engine import FiniteTrainingHook
from mmdet_cgd.utils import NonFiniteError


def test_our_configs_select_it_at_every_iteration():
    cfg = Config.fromfile(DEMO_CONFIG)
    assert dict(type='FiniteTrainingHook', interval=1) in cfg.custom_hooks


def test_a_nan_pixel_stops_training_at_its_iteration_with_no_checkpoint(tiny_coco, tmp_path):
    options = tiny_run_options(tiny_coco, max_iters=3, ckpt_interval=1)[1:]
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.merge_from_dict({k: DictAction._parse_iterable(v)
                         for k, v in (o.split('=', 1) for o in options)})
    cfg.model.data_preprocessor.mean = [math.nan, 123.675, 116.28]  # NaN in every image
    cfg.work_dir = str(tmp_path)
    with pytest.raises(NonFiniteError, match=r'training stopped at iteration 1 .*non-finite '
                       r"loss \{'loss': nan"):
        Runner.from_cfg(cfg).train()
    assert not list(tmp_path.glob('*.pth'))


class FakeRunner:
    iter, epoch = 6, 0


def test_a_checkpoint_with_nan_batchnorm_statistics_is_not_saved():
    bn = torch.nn.BatchNorm2d(4)
    bn.running_var[1] = math.nan
    hook = FiniteTrainingHook()
    hook.before_save_checkpoint(FakeRunner(), dict(state_dict={'w': torch.ones(2)}, meta={}))
    with pytest.raises(NonFiniteError, match=r"iteration 7 .*\['bn.running_var'\]"):
        hook.before_save_checkpoint(FakeRunner(), dict(
            state_dict={f'bn.{k}': v for k, v in bn.state_dict().items()},
            meta=dict(iter=7, epoch=0)))
