"""tools/train.py and tools/test.py end to end on CPU: train, save, resume, evaluate (bbox + segm),
also through mmdet's own scripts and as a 2-process gloo job."""
import os
import stat
import sys
from collections import Counter
from pathlib import Path

import mmdet
import pytest
import torch
from tool_helpers import (
    DEMO_CONFIG,
    free_port,
    python,
    read_test_metrics,
    run,
    tiny_run_options,
)

from mmdet_cgd.checkpoint import load_checkpoint_file
from mmdet_cgd.checkpoint.safe_globals import TORCH_HAS_ALLOW_LIST

MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'


@pytest.fixture(scope='module')
def trained(tiny_coco, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', work_dir,
                  *tiny_run_options(tiny_coco, max_iters=4))
    return work_dir, proc


def load_safely(path):
    if TORCH_HAS_ALLOW_LIST:
        return torch.load(path, map_location='cpu', weights_only=True)
    return load_checkpoint_file(str(path))


def test_train_saves_checkpoints_and_validates(trained):
    work_dir, proc = trained
    assert (work_dir / 'iter_2.pth').is_file() and (work_dir / 'iter_4.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('iter_4.pth')
    # written through the config's atomic_local backend, with the mode a plain write gives
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((work_dir / 'iter_4.pth').stat().st_mode) == 0o666 & ~umask
    assert not list(work_dir.glob('.*.tmp'))
    log = proc.stdout + proc.stderr
    assert 'Iter(train) [4/4]' in log and 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    # saved checkpoints load with torch's safe default (weights_only=True) once mmdet_cgd is in,
    # on torch >= 2.6; on older torch (no allow-list to extend) through our safe loader
    ckpt = load_safely(work_dir / 'iter_4.pth')
    assert ckpt['meta']['iter'] == 4 and any('.cgd.' in k for k in ckpt['state_dict'])


def test_resume_continues_from_the_last_checkpoint(trained, tiny_coco):
    work_dir, _ = trained
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', work_dir, '--resume',
                  *tiny_run_options(tiny_coco, max_iters=6))
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'Iter(train) [5/6]' in log and 'Iter(train) [1/6]' not in log
    ckpt = load_safely(work_dir / 'iter_6.pth')
    assert ckpt['meta']['iter'] == 6


def test_a_multisteplr_config_trains_resumes_and_tests(tiny_coco, tmp_path):
    """MultiStepLR (every paper config's schedule) saves its milestones as a Counter, which our
    loader refused on torch < 2.6: --resume started over and test.py refused the file."""
    config = tmp_path / 'multistep.py'
    config.write_text(f'_base_ = {str(DEMO_CONFIG)!r}\n'
                      "param_scheduler = [dict(type='MultiStepLR', by_epoch=False, "
                      'milestones=[1, 2], gamma=0.5)]\n')
    work_dir = tmp_path / 'work'
    python('tools/train.py', config, '--work-dir', work_dir,
           *tiny_run_options(tiny_coco, max_iters=1, ckpt_interval=1))
    proc = python('tools/train.py', config, '--work-dir', work_dir, '--resume',
                  *tiny_run_options(tiny_coco, max_iters=2, ckpt_interval=1))
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 1' in log and 'Iter(train) [1/2]' not in log, log[-3000:]
    ckpt = load_checkpoint_file(str(work_dir / 'iter_2.pth'))
    assert ckpt['param_schedulers'][0]['milestones'] == Counter([1, 2])
    python('tools/test.py', config, work_dir / 'iter_2.pth', '--work-dir', tmp_path / 'test',
           *tiny_run_options(tiny_coco))
    assert 'coco/bbox_mAP' in read_test_metrics(tmp_path / 'test')


def test_load_from_starts_a_new_run_from_saved_weights(trained, tiny_coco, tmp_path):
    work_dir, _ = trained
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path,
                  *tiny_run_options(tiny_coco, max_iters=1, ckpt_interval=1),
                  f'load_from={work_dir / "iter_4.pth"}')
    assert 'Load checkpoint from' in proc.stdout + proc.stderr
    assert (tmp_path / 'iter_1.pth').is_file()


def test_test_tool_reports_bbox_and_segm_metrics(trained, tiny_coco, tmp_path):
    work_dir, _ = trained
    out = tmp_path / 'preds.pkl'
    python('tools/test.py', DEMO_CONFIG, work_dir / 'iter_4.pth', '--work-dir', tmp_path,
           '--out', out, *tiny_run_options(tiny_coco))
    metrics = read_test_metrics(tmp_path)
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP'):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert out.is_file() and out.stat().st_size > 0


def test_configs_work_with_mmdets_own_train_and_test_scripts(tiny_coco, tmp_path):
    python(MMDET_TOOLS / 'train.py', DEMO_CONFIG, '--work-dir', tmp_path,
           *tiny_run_options(tiny_coco, max_iters=2))
    python(MMDET_TOOLS / 'test.py', DEMO_CONFIG, tmp_path / 'iter_2.pth', '--work-dir',
           tmp_path / 'test', *tiny_run_options(tiny_coco))
    assert 'coco/segm_mAP' in read_test_metrics(tmp_path / 'test')


def test_two_process_gloo_run_trains_and_evaluates(tiny_coco, tmp_path):
    env = dict(PORT=str(free_port()), PYTHON=sys.executable)
    run(['bash', 'tools/dist_train.sh', DEMO_CONFIG, 2, '--work-dir', tmp_path,
         *tiny_run_options(tiny_coco, max_iters=2)], env=env)
    assert (tmp_path / 'iter_2.pth').is_file()
    env['PORT'] = str(free_port())
    run(['bash', 'tools/dist_test.sh', DEMO_CONFIG, tmp_path / 'iter_2.pth', 2,
         '--work-dir', tmp_path / 'test', *tiny_run_options(tiny_coco)], env=env)
    assert 'coco/bbox_mAP' in read_test_metrics(tmp_path / 'test')


GLOO_THREADS_AFTER_A_RUN = """
import os, sys
import torch, torch.distributed as dist
from mmengine.dist import broadcast_object_list
from mmengine.model import MMDistributedDataParallel
from mmdet_cgd.cli.cpu_distributed import end_distributed

torch.set_num_threads(1)
def threads():
    return set(os.listdir('/proc/self/task'))
before = threads()
dist.init_process_group('gloo', init_method=sys.argv[1], rank=0, world_size=1)
class Runner:
    pass
runner = Runner()
runner.me = runner  # a reference cycle, as mmengine's Runner has
runner.model = MMDistributedDataParallel(torch.nn.Linear(4, 2), device_ids=None)
runner.model(torch.randn(3, 4)).sum().backward()
broadcast_object_list([{'coco/bbox_mAP': 0.5}])  # what BaseMetric.evaluate ends with
print('during', len(threads() - before))
del runner
end_distributed()
print('after', len(threads() - before), 'initialized', dist.is_initialized())
end_distributed()  # nothing left to end: no error
"""


def test_end_distributed_destroys_the_group_and_joins_its_threads(tmp_path):
    """A finished 2-process run aborted at exit (SIGABRT, "terminate called without an active
    exception") in ~1 of 8 runs here: gloo's worker threads, kept alive by the DDP wrapper after
    ``destroy_process_group``, dropped a broadcast's tensors during interpreter finalization.
    Once the Runner is dropped, ``end_distributed`` leaves no thread of the group running."""
    proc = python('-c', GLOO_THREADS_AFTER_A_RUN, f'file://{tmp_path}/group')
    during, after, initialized = proc.stdout.split()[1::2]
    assert int(during) >= 3  # gloo's event loop and its two worker threads
    assert int(after) == 0 and initialized == 'False', proc.stdout


# The README's "Add CGD to any mmdet config", with the hook whose checkpoints mmdet's own
# test.py reads on torch >= 2.6 (weights_only=True by default there)
RECIPE = """
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)
model = dict(backbone=dict(plugins=[
    dict(cfg=dict(type='CGD', identity_init=True), position='after_conv1')]))
default_hooks = dict(weights_only=dict(type='WeightsOnlyCheckpointHook'))
"""
# the recipe made tiny: no pretrained download, the synthetic classes, 64-pixel images
TINY = """
model = dict(backbone=dict(init_cfg=None), bbox_head=dict(num_classes=5))
metainfo = dict(classes=('disk', 'square', 'triangle', 'star', 'cross'))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]
data = dict(data_root='{root}/', metainfo=metainfo, pipeline=pipeline)
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    data, ann_file='annotations/instances_train.json', data_prefix=dict(img='train/')))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(
    data, ann_file='annotations/instances_val.json', data_prefix=dict(img='val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='{root}/annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1)
"""


def test_the_readme_recipe_through_mmdets_own_train_and_test_tools(tiny_coco, tmp_path):
    """#31 case 6: on torch >= 2.6 mmdet's test.py failed on the checkpoint its train.py wrote
    ("Unsupported global: GLOBAL getattr")."""
    (tmp_path / 'fcos_r50-cgd.py').write_text(
        "_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'\n" + RECIPE)
    config = tmp_path / 'tiny.py'
    config.write_text("_base_ = './fcos_r50-cgd.py'\n" + TINY.format(root=tiny_coco))
    python(MMDET_TOOLS / 'train.py', config, '--work-dir', tmp_path)
    checkpoint = torch.load(tmp_path / 'epoch_1.pth', weights_only=False)
    assert any('.cgd.' in k for k in checkpoint['state_dict'])
    python(MMDET_TOOLS / 'test.py', config, tmp_path / 'epoch_1.pth', '--work-dir',
           tmp_path / 'test')
    assert 'coco/bbox_mAP' in read_test_metrics(tmp_path / 'test')
