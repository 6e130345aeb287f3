"""Mistakes in configs and datasets are errors that say what was expected, given, and where."""
import json

import pytest
from mmengine.config import Config

from mmdet_cgd.utils import check_backbone_plugins, check_coco_file, check_dataloader_data
from tool_helpers import DEMO_CONFIG, python

CGD = dict(cfg=dict(type='CGD'), position='after_conv1')


def model_with(backbone):
    return dict(type='FasterRCNN', backbone=backbone)


def test_cgd_on_a_stock_basic_block_resnet_points_to_the_variant():
    with pytest.raises(ValueError, match=r"model.backbone: mmdet's ResNet-18 .* takes no plugins"
                                         r".*type='CGDResNet'"):
        check_backbone_plugins(model_with(dict(type='ResNet', depth=18, plugins=[CGD])))


@pytest.mark.parametrize('position,hint', [('after_conv4', ''),
                                           ('before_norm1', "needs type='CGDResNet'")])
def test_unknown_position_on_a_stock_resnet(position, hint):
    bad = dict(CGD, position=position)
    with pytest.raises(ValueError, match=rf"model.backbone.plugins\[0\]: position must be one of "
                                         rf".* got '{position}'.*{hint}"):
        check_backbone_plugins(model_with(dict(type='ResNet', depth=50, plugins=[bad])))


def test_valid_configs_pass():
    check_backbone_plugins(model_with(dict(type='ResNet', depth=50, plugins=[CGD])))
    check_backbone_plugins(model_with(dict(type='CGDResNet', depth=18, plugins=[
        dict(cfg=dict(type='CGD'), position='before_norm1')])))


def test_cgd_without_in_channels_says_how_to_build_it():
    from mmengine.registry import MODELS
    import mmdet_cgd  # noqa: F401
    with pytest.raises(ValueError, match='in_channels must be a positive int .* got None'):
        MODELS.build(dict(type='CGD'))


def test_annotation_file_that_is_not_coco(tmp_path):
    (tmp_path / 'a.json').write_text(json.dumps({'imgs': [], 'anns': []}))
    with pytest.raises(ValueError, match=r"a.json' is not a COCO json: expected the keys "
                                         r"\['images', 'annotations', 'categories'\], got "
                                         r"\['anns', 'imgs'\]"):
        check_coco_file(tmp_path / 'a.json', tmp_path)
    (tmp_path / 'b.json').write_text('images: 1')
    with pytest.raises(ValueError, match="b.json' is not a COCO json: it does not parse"):
        check_coco_file(tmp_path / 'b.json', tmp_path)


def test_missing_image_and_box_outside_its_image(tiny_coco, tmp_path):
    coco = json.loads((tiny_coco / 'annotations' / 'instances_val.json').read_text())
    coco['images'][0]['file_name'] = 'gone.png'
    ann = coco['annotations'][-1]
    ann['bbox'] = [100, 100, 60, 10]
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(coco))
    with pytest.raises(ValueError) as err:
        check_coco_file(path, tiny_coco / 'val')
    msg = str(err.value)
    assert "bad.json' (images in" in msg and 'missing file' in msg and 'gone.png' in msg
    assert f"annotation {ann['id']}: bbox [100, 100, 60, 10] outside its 128x128 image" in msg


def test_the_train_tool_reports_them_before_building(tiny_coco, tmp_path):
    (tmp_path / 'notcoco.json').write_text('[]')
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path, '--cfg-options',
                  f'train_dataloader.dataset.data_root={tiny_coco}/',
                  f'train_dataloader.dataset.ann_file={tmp_path}/notcoco.json', check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
    assert 'is not a COCO json: expected the keys' in proc.stderr
    # the demo's ResNet-18 with CGD, switched to mmdet's stock ResNet
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path, '--cfg-options',
                  'model.backbone.type=ResNet', check=False)
    assert "ResNet-18 (BasicBlock) takes no plugins, got 1; use type='CGDResNet'" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ')


def test_dataloader_check_follows_dataset_wrappers(tiny_coco, tmp_path):
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(
            type='CocoDataset', data_root=str(tiny_coco), ann_file='annotations/missing.json',
            data_prefix=dict(img='train/'))))))
    with pytest.raises(ValueError, match='annotation file not found'):
        check_dataloader_data(cfg)
