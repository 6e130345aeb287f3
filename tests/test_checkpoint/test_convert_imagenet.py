"""The converter on checkpoints built here in each of the authors' layouts."""
import runpy
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from mmdet.models.backbones import ResNet

from mmdet_cgd.checkpoint import CheckpointError
from mmdet_cgd.models import CGDResNet

# the converter is a script (tools/model_converters/), loaded here as a module
CONVERTER = runpy.run_path(str(Path(__file__).resolve().parents[2] / 'tools' / 'model_converters'
                               / 'convert_imagenet_checkpoint.py'))
ConversionError, convert_checkpoint = CONVERTER['ConversionError'], CONVERTER['convert_checkpoint']
PAPER_CGD = [dict(cfg=dict(type='CGD'), position='before_norm1')]


def authors_state_dict(depth=50, style='w', seed=0):
    """A torchvision-named ResNet state dict with CGD under ``attention.`` and a classifier."""
    torch.manual_seed(seed)
    state = OrderedDict(ResNet(depth=depth).state_dict())
    blocks = sorted({k.rsplit('.', 2)[0] for k in state if k.startswith('layer')
                     and '.conv1.' in k})
    for block in blocks:
        c = state[f'{block}.conv1.weight'].shape[0]
        for i in range(3):
            if style == 'w':
                state[f'{block}.attention.w{i}'] = torch.randn(c, 1)
                state[f'{block}.attention.bias{i}'] = torch.randn(1, c, 1, 1)
            else:
                state[f'{block}.attention.squeeze{i}.0.weight'] = torch.randn(c, 1)
                state[f'{block}.attention.squeeze{i}.0.bias'] = torch.randn(c, 1, 1)
    feat = 2048 if depth >= 50 else 512
    state['fc.weight'], state['fc.bias'] = torch.randn(1000, feat), torch.randn(1000)
    return state


@pytest.mark.parametrize('style', ['w', 'squeeze'])
@pytest.mark.parametrize('wrap', ['plain', 'module', 'state_dict'])
def test_converted_checkpoint_loads_with_no_missing_or_unexpected_keys(tmp_path, style, wrap):
    state = authors_state_dict(style=style)
    src_obj = state
    if wrap == 'module':
        src_obj = OrderedDict((f'module.{k}', v) for k, v in state.items())
    elif wrap == 'state_dict':
        src_obj = dict(state_dict=OrderedDict((f'module.{k}', v) for k, v in state.items()),
                       epoch=90)
    torch.save(src_obj, tmp_path / 'src.pth')
    report = convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'))
    assert report['depth'] == 50 and report['cgd'] == 16 * 6
    assert report['dropped'] == ['fc.weight', 'fc.bias'] and report['unknown'] == []

    converted = torch.load(tmp_path / 'dst.pth', weights_only=True)['state_dict']
    model = CGDResNet(depth=50, plugins=PAPER_CGD)
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # values land where they belong, in the authors' shapes
    name = 'squeeze2.0.bias' if style == 'squeeze' else 'bias2'
    torch.testing.assert_close(model.layer3[4].cgd.bias2.flatten(),
                               state[f'layer3.4.attention.{name}'].flatten(), rtol=0, atol=0)
    torch.testing.assert_close(model.layer1[0].conv1.weight, state['layer1.0.conv1.weight'])


def test_the_backbone_loads_the_converted_file_through_init_cfg(tmp_path):
    torch.save(authors_state_dict(depth=18), tmp_path / 'src.pth')
    convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'r18.pth'))
    model = CGDResNet(depth=18, plugins=PAPER_CGD,
                      init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'r18.pth')))
    model.init_weights()
    expected = torch.load(tmp_path / 'r18.pth', weights_only=True)['state_dict']
    for k, v in model.state_dict().items():
        assert torch.equal(v, expected[k]), k


def test_never_overwrites_without_force(tmp_path):
    torch.save(authors_state_dict(depth=18), tmp_path / 'src.pth')
    (tmp_path / 'dst.pth').write_bytes(b'precious')
    with pytest.raises(FileExistsError, match='--force'):
        convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'))
    assert (tmp_path / 'dst.pth').read_bytes() == b'precious'
    convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'), force=True)
    assert 'state_dict' in torch.load(tmp_path / 'dst.pth', weights_only=True)


def test_unknown_keys_are_reported_and_fail_unless_skipped(tmp_path):
    state = authors_state_dict(depth=18)
    state['layer1.0.se.fc.weight'] = torch.zeros(4, 4)
    torch.save(state, tmp_path / 'src.pth')
    with pytest.raises(ConversionError, match=r"1 keys outside .*'layer1.0.se.fc.weight'"):
        convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'))
    assert not (tmp_path / 'dst.pth').exists()
    report = convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'),
                                skip_unknown=True)
    assert report['unknown'] == ['layer1.0.se.fc.weight']


@pytest.mark.parametrize('prefix', ['backbone.', ''])
def test_a_checkpoint_already_in_our_key_names_needs_no_conversion(tmp_path, prefix):
    """An mmpretrain classifier of configs/cgd_imagenet ('backbone.' keys) or a converted file."""
    model = CGDResNet(depth=18, plugins=PAPER_CGD)
    torch.save({f'{prefix}{k}': v for k, v in model.state_dict().items()}, tmp_path / 'src.pth')
    with pytest.raises(ConversionError, match=r'needs no conversion; give it to a paper detection '
                       r'config as --cfg-options model.backbone.init_cfg.checkpoint='):
        convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'))
    assert not (tmp_path / 'dst.pth').exists()


def test_a_checkpoint_without_cgd_converts_to_the_plain_network(tmp_path):
    state = OrderedDict((k, v) for k, v in authors_state_dict(depth=18).items()
                        if '.attention.' not in k)
    torch.save(state, tmp_path / 'src.pth')
    report = convert_checkpoint(str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth'))
    assert report['arch'] == 'ResNet-18' and report['cgd'] == 0
    converted = torch.load(tmp_path / 'dst.pth', weights_only=True)['state_dict']
    result = CGDResNet(depth=18).load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_truncated_and_foreign_files_are_clear_errors(tmp_path):
    torch.save(authors_state_dict(depth=18), tmp_path / 'src.pth')
    data = (tmp_path / 'src.pth').read_bytes()
    (tmp_path / 'truncated.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated'):
        convert_checkpoint(str(tmp_path / 'truncated.pth'), str(tmp_path / 'dst.pth'))
    (tmp_path / 'notes.txt').write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='not a readable PyTorch checkpoint'):
        convert_checkpoint(str(tmp_path / 'notes.txt'), str(tmp_path / 'dst.pth'))
    with pytest.raises(CheckpointError, match='not found'):
        convert_checkpoint(str(tmp_path / 'missing.pth'), str(tmp_path / 'dst.pth'))
    assert not (tmp_path / 'dst.pth').exists()


def test_command_line_reports_and_exits_nonzero_on_error(tmp_path, capsys):
    """In-process: ``main`` exits with the message the script prints."""
    main = runpy.run_path('tools/model_converters/convert_imagenet_checkpoint.py')['main']
    torch.save(authors_state_dict(depth=18), tmp_path / 'src.pth')
    argv = [str(tmp_path / 'src.pth'), str(tmp_path / 'dst.pth')]
    main(argv)
    assert 'ResNet-18' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert str(exit_.value.code).startswith('error: ') and '--force' in exit_.value.code


def authors_mobilenet_state_dict(widen_factor=1.0, style='w', seed=0):
    """Their classification/models/imagenet/mobilenet.py as DataParallel saves it: ``module.``,
    stem conv1/bn1, layers.N.{conv1,bn1,conv2,bn2,attention}, classifier ``linear``."""
    from mmdet_cgd.models import CGDMobileNet
    torch.manual_seed(seed)
    state = OrderedDict()
    for key, value in CGDMobileNet(widen_factor=widen_factor).state_dict().items():
        state[key] = torch.randn(value.shape) if value.is_floating_point() else value
    for i in range(13):
        c = state[f'layers.{i}.conv1.weight'].shape[0]
        for j in range(3):
            if style == 'w':
                state[f'layers.{i}.attention.w{j}'] = torch.randn(c, 1)
                state[f'layers.{i}.attention.bias{j}'] = torch.randn(1, c, 1, 1)
            else:
                state[f'layers.{i}.attention.squeeze{j}.0.weight'] = torch.randn(c, 1)
                state[f'layers.{i}.attention.squeeze{j}.0.bias'] = torch.randn(c, 1, 1)
    last = state['layers.12.conv2.weight'].shape[0]
    state['linear.weight'], state['linear.bias'] = torch.randn(1000, last), torch.randn(1000)
    return OrderedDict((f'module.{k}', v) for k, v in state.items())


@pytest.mark.parametrize('style', ['w', 'squeeze'])
def test_authors_mobilenet_converts_and_the_ssd_config_loads_every_key(tmp_path, style):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    state = authors_mobilenet_state_dict(style=style)
    torch.save(dict(epoch=91, state_dict=state, best_acc=72.6), tmp_path / 'model_best.pth.tar')
    report = convert_checkpoint(str(tmp_path / 'model_best.pth.tar'), str(tmp_path / 'dst.pth'))
    assert report['arch'] == 'MobileNet' and report['cgd'] == 13 * 6 and not report['unknown']
    assert report['dropped'] == ['linear.weight', 'linear.bias']
    cfg = Config.fromfile('configs/cgd/ssd300_mobilenet-cgd_coco.py')
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'dst.pth')
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = MODELS.build(cfg.model)
    detector.init_weights()  # StrictPretrained: raises on any missing or unexpected key
    backbone = detector.backbone
    name = 'squeeze1.0.weight' if style == 'squeeze' else 'w1'
    torch.testing.assert_close(backbone.layers[7].cgd.w1.flatten(),
                               state[f'module.layers.7.attention.{name}'].flatten())
    torch.testing.assert_close(backbone.layers[12].conv2.weight,
                               state['module.layers.12.conv2.weight'])


def test_authors_slim_mobilenet_and_foreign_keys(tmp_path):
    torch.save(authors_mobilenet_state_dict(widen_factor=0.7), tmp_path / 'slim.pth')
    report = convert_checkpoint(str(tmp_path / 'slim.pth'), str(tmp_path / 'slim_out.pth'))
    assert report['arch'] == 'MobileNet-0.7x' and report['widen_factor'] == 0.7
    state = authors_mobilenet_state_dict()
    state['module.layers.13.conv.weight'] = torch.zeros(256, 1024, 1, 1)  # their SSD extras
    torch.save(state, tmp_path / 'ssd.pth')
    with pytest.raises(ConversionError, match=r"outside the CGD authors' MobileNet format .*"
                                              r"'layers.13.conv.weight'"):
        convert_checkpoint(str(tmp_path / 'ssd.pth'), str(tmp_path / 'dst.pth'))


def build_ssd(config, checkpoint):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg.model)


def test_authors_plain_mobilenet_converts_for_the_ssd_baseline(tmp_path):
    state = OrderedDict((k, v) for k, v in authors_mobilenet_state_dict().items()
                        if '.attention.' not in k)
    torch.save(dict(state_dict=state), tmp_path / 'plain.pth.tar')
    report = convert_checkpoint(str(tmp_path / 'plain.pth.tar'), str(tmp_path / 'dst.pth'))
    assert report['arch'] == 'MobileNet' and report['cgd'] == 0
    assert report['dropped'] == ['linear.weight', 'linear.bias']
    detector = build_ssd('configs/cgd/ssd300_mobilenet_coco.py', tmp_path / 'dst.pth')
    detector.init_weights()  # StrictPretrained: raises on any missing or unexpected key
    torch.testing.assert_close(detector.backbone.layers[12].conv2.weight,
                               state['module.layers.12.conv2.weight'])


def test_the_unconverted_authors_file_is_told_to_convert(tmp_path):
    """Not "it has no CGD weights (a plain ResNet?): use a *-cgd-identity config"."""
    torch.save(dict(state_dict=authors_mobilenet_state_dict()), tmp_path / 'model_best.pth.tar')
    detector = build_ssd('configs/cgd/ssd300_mobilenet-cgd_coco.py',
                         tmp_path / 'model_best.pth.tar')
    with pytest.raises(CheckpointError) as error:
        detector.init_weights()
    message = str(error.value)
    assert "it is a CGD authors' ImageNet checkpoint (CGD under <block>.attention.): convert it " \
           'once with python tools/model_converters/convert_imagenet_checkpoint.py ' \
           f"{tmp_path / 'model_best.pth.tar'} DST.pth" in message
    assert 'plain ResNet' not in message and 'identity' not in message
