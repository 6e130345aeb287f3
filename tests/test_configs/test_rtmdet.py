"""configs/cgd/rtmdet_*-cgd: mmdet's RTMDet with CGD as its backbone's channel attention, the
rest the baseline's. The tiny config, its images shrunk tenfold, trains two iterations on the
synthetic COCO set and is tested, through our tools and through mmdet's own; its weight decay
and the README's parameter counts are the built models'."""
from pathlib import Path

import mmdet
import pytest
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from synthetic_coco import CLASSES, data_root_options
from test_metafile import load_mmdet_config
from tool_helpers import FAST_LOADING, python, read_test_metrics
from torch import nn

from mmdet_cgd.checkpoint import load_checkpoint_file
from mmdet_cgd.models import CGD

CGD_DIR = Path(__file__).parents[2] / 'configs' / 'cgd'
RUNTIME = CGD_DIR.parent / '_base_' / 'cgd_runtime.py'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
CONFIGS = ['rtmdet_tiny-cgd_8xb32-300e_coco', 'rtmdet_s-cgd_8xb32-300e_coco']
TINY = CGD_DIR / f'{CONFIGS[0]}.py'
SIZE_KEYS = ('img_scale', 'scale', 'crop_size', 'size')  # image sizes in mmdet's transforms


def baseline_of(name: str) -> Config:
    return load_mmdet_config('mmdet::rtmdet/' + name.replace('-cgd', ''))


def built(part: dict, scope: str = 'mmdet'):
    part = dict(part)
    if 'backbone' in part:
        part['backbone'] = dict(part['backbone'], init_cfg=None)
    else:
        part['init_cfg'] = None  # no download
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(part)


@pytest.mark.parametrize('name', CONFIGS)
def test_cgd_takes_channel_attentions_place_and_the_rest_is_the_baseline(name):
    ours, theirs = Config.fromfile(str(CGD_DIR / f'{name}.py')), baseline_of(name)
    backbone, stock = dict(ours.model.backbone), dict(theirs.model.backbone)
    assert (backbone.pop('type'), stock.pop('type')) == ('CGDCSPNeXt', 'CSPNeXt')
    assert backbone.pop('attention_cfg') == dict(type='CGD', identity_init=True, inplace=True)
    init, stock_init = backbone.pop('init_cfg'), stock.pop('init_cfg')
    assert backbone == stock and stock['channel_attention']
    assert init == dict(stock_init, type='StrictPretrained', unused_keys=['.attention.fc.'],
                        new_keys=['.attention.w', '.attention.bias'])
    runtime = Config.fromfile(str(RUNTIME))
    assert ours.custom_hooks == [*theirs.custom_hooks, *runtime.custom_hooks]
    assert [h.type for h in theirs.custom_hooks] == ['EMAHook', 'PipelineSwitchHook']
    paramwise, stock_paramwise = dict(ours.optim_wrapper.paramwise_cfg), \
        theirs.optim_wrapper.paramwise_cfg
    assert paramwise.pop('custom_keys') == {'.attention.w': dict(decay_mult=0.5),
                                            '.attention.bias': dict(decay_mult=0.0)}
    assert paramwise == stock_paramwise == dict(norm_decay_mult=0, bias_decay_mult=0,
                                                bypass_duplicate=True)


def test_cgd_weights_decay_at_half_rtmdets_and_its_biases_as_rtmdets_not_at_all():
    cfg = Config.fromfile(str(TINY))
    detector = built(cfg.model)
    with DefaultScope.overwrite_default_scope('mmdet'):
        optimizer = build_optim_wrapper(detector, cfg.optim_wrapper).optimizer
    decay = {id(p): g['weight_decay'] for g in optimizer.param_groups for p in g['params']}
    seen = 0
    for module_name, module in detector.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, CGD):
                expected = 0.025 if name.startswith('w') else 0.0
                seen += 1
            elif isinstance(module, nn.modules.batchnorm._BatchNorm) or name == 'bias':
                expected = 0.0
            else:
                expected = 0.05
            assert decay[id(param)] == pytest.approx(expected, rel=1e-12), f'{module_name}.{name}'
    assert seen == 4 * 6


def readme_row(name: str) -> list:
    readme = (CGD_DIR / 'README.md').read_text()
    row = next(line for line in readme.splitlines() if line.startswith(f'| [{name}]'))
    return [cell.strip() for cell in row.split('|')[1:-1]]


@pytest.mark.parametrize('name', CONFIGS)
def test_the_readmes_parameter_counts_are_the_built_backbones(name):
    ours = built(Config.fromfile(str(CGD_DIR / f'{name}.py')).model.backbone)
    stock = built(baseline_of(name).model.backbone)
    counts = []
    for model in (stock, ours):
        params = dict(model.named_parameters())
        counts.append((sum(p.numel() for n, p in params.items() if '.attention.' in n),
                       sum(p.numel() for p in params.values())))
    (stock_attention, stock_total), (cgd_attention, cgd_total) = counts
    assert cgd_attention == 6 * sum(m.in_channels for m in ours.modules() if isinstance(m, CGD))
    row = readme_row(name)
    assert row[3] == f'{stock_attention:,} / {cgd_attention:,}'
    assert row[4] == f'{stock_total:,} / {cgd_total:,}'
    published = {'rtmdet_tiny-cgd_8xb32-300e_coco': '41.1', 'rtmdet_s-cgd_8xb32-300e_coco': '44.6'}
    assert row[2] == published[name]  # mmdet's RTMDet README


def synthetic_run_options(cfg: Config, data_root) -> list:
    """--cfg-options: the synthetic set (its classes, no download), every image size of the
    pipelines a tenth (640 -> 64), one epoch of two batches of 2."""
    classes = f"({','.join(repr(c) for c in CLASSES)},)"
    options = [*data_root_options(data_root), *FAST_LOADING, 'model.backbone.init_cfg=None',
               f'model.bbox_head.num_classes={len(CLASSES)}', 'train_dataloader.dataset.indices=4',
               'train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'),
                          ('test_dataloader', 'val')):
        dataset = f'{loader}.dataset'
        options += [f'{dataset}.ann_file=annotations/instances_{split}.json',
                    f'{dataset}.data_prefix.img={split}/', f'{dataset}.metainfo.classes={classes}']
        for i, transform in enumerate(cfg[loader].dataset.pipeline):
            for key in SIZE_KEYS:
                if key in transform:
                    width, height = transform[key]
                    options.append(f'{dataset}.pipeline.{i}.{key}=({width // 10},{height // 10})')
    return ['--cfg-options', *options]


@pytest.mark.parametrize('tools', [Path('tools'), MMDET_TOOLS], ids=['ours', 'mmdets'])
def test_tiny_config_trains_and_tests_through_our_tools_and_mmdets(tools, tiny_coco, tmp_path):
    options = synthetic_run_options(Config.fromfile(str(TINY)), tiny_coco)
    proc = python(tools / 'train.py', TINY, '--work-dir', tmp_path / 'train', *options)
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][2/2]' in log and 'coco/bbox_mAP' in log
    checkpoint = load_checkpoint_file(str(tmp_path / 'train' / 'epoch_1.pth'))
    for weights in ('state_dict', 'ema_state_dict'):  # RTMDet's EMAHook keeps both
        keys = [k for k in checkpoint[weights] if '.attention.' in k]
        assert len(keys) == 4 * 6 and all('.attention.fc.' not in k for k in keys)
    python(tools / 'test.py', TINY, tmp_path / 'train' / 'epoch_1.pth', '--work-dir',
           tmp_path / 'test', *options)
    assert 0.0 <= read_test_metrics(tmp_path / 'test')['coco/bbox_mAP'] <= 1.0
