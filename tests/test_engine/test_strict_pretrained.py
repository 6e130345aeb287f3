"""``init_cfg=dict(type='StrictPretrained')`` in our configs: misfit weights raise at
``init_weights()`` (where mmdet's own tools meet them), fitting ones load, CGD included."""
from pathlib import Path

import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

from mmdet_cgd.checkpoint import CheckpointError, CheckpointMismatchError
from mmdet_cgd.models import CGDResNet

CONFIGS = Path(__file__).parents[2] / 'configs' / 'cgd'
PAPER = CONFIGS / 'faster-rcnn_r50-cgd_fpn_1x_coco.py'
IDENTITY = CONFIGS / 'faster-rcnn_r50-cgd-identity_fpn_1x_coco.py'
PAPER_CGD = [dict(cfg=dict(type='CGD'), position='before_norm1')]
register_all_modules()


def backbone_with(config, checkpoint):
    """The config's backbone as mmdet builds it, its init_cfg pointed at ``checkpoint`` the way
    ``--cfg-options model.backbone.init_cfg.checkpoint=PATH`` does."""
    cfg = Config.fromfile(str(config))
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(checkpoint)})
    return MODELS.build(cfg.model.backbone)


def plain_resnet50(path, with_classifier=True):
    torch.manual_seed(0)
    state = ResNet(depth=50).state_dict()
    if with_classifier:  # as torchvision's ImageNet files have
        state.update({'fc.weight': torch.randn(1000, 2048), 'fc.bias': torch.randn(1000)})
    torch.save(state, path)
    return state


def test_paper_config_refuses_a_plain_resnet_at_init_weights(tmp_path):
    plain_resnet50(tmp_path / 'r50.pth', with_classifier=False)
    backbone = backbone_with(PAPER, tmp_path / 'r50.pth')
    with pytest.raises(CheckpointMismatchError) as error:
        backbone.init_weights()
    message = str(error.value)
    assert '96 missing' in message and 'layer1.0.cgd.w0' in message
    assert 'cgd-identity config' in message


def test_the_whole_detector_refuses_misfit_weights_too(tmp_path):
    """What mmdet's tools/train.py runs: model.init_weights() on the detector."""
    plain_resnet50(tmp_path / 'r50.pth')
    cfg = Config.fromfile(str(PAPER))
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(tmp_path / 'r50.pth')})
    with pytest.raises(CheckpointMismatchError, match="2 unexpected: \\['fc.bias', 'fc.weight'\\]"):
        MODELS.build(cfg.model).init_weights()


def test_paper_config_loads_every_weight_of_a_cgd_checkpoint(tmp_path):
    torch.manual_seed(1)
    state = CGDResNet(depth=50, plugins=PAPER_CGD).state_dict()
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()}
    # an mmpretrain classifier's layout: backbone., head. and data_preprocessor keys
    torch.save(dict(state_dict={**{f'backbone.{k}': v for k, v in state.items()},
                                'head.fc.weight': torch.randn(1000, 2048),
                                'data_preprocessor.mean': torch.zeros(3)}), tmp_path / 'c.pth')
    backbone = backbone_with(PAPER, tmp_path / 'c.pth')
    backbone.init_weights()
    loaded = backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_identity_config_loads_plain_resnet_weights_and_keeps_cgd_the_identity(tmp_path):
    state = plain_resnet50(tmp_path / 'r50.pth')
    backbone = backbone_with(IDENTITY, tmp_path / 'r50.pth')
    backbone.init_weights()
    loaded = backbone.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith('fc.'))
    assert all(torch.count_nonzero(loaded[k]) == 0 for k in loaded if k.endswith('.cgd.w2'))


def test_identity_config_refuses_weights_of_another_depth(tmp_path):
    torch.save(ResNet(depth=101).state_dict(), tmp_path / 'r101.pth')
    with pytest.raises(CheckpointMismatchError, match=r"306 unexpected: \['layer3.10.bn1.bias'"):
        backbone_with(IDENTITY, tmp_path / 'r101.pth').init_weights()


def test_a_missing_pretrained_file_is_an_error_not_a_warning(tmp_path):
    with pytest.raises(CheckpointError, match='checkpoint not found'):
        backbone_with(PAPER, tmp_path / 'absent.pth').init_weights()
