"""configs/cgd/ssd300_mobilenet*: the authors' MobileNet-SSD300 structure at 300x300, their
recipe, and a few training iterations plus an evaluation through tools/train.py on synthetic
COCO and on a VOC-format tree written here."""
from pathlib import Path
from xml.etree import ElementTree

import cv2
import pytest
import torch
from mmdet.datasets import VOCDataset
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from synthetic_coco import CLASSES, SyntheticSpec, generate_split
from tool_helpers import python

from mmdet_cgd.models import CGD, CGDMobileNet

CGD_DIR = Path(__file__).parents[2] / 'configs' / 'cgd'
SSD_CGD = ['ssd300_mobilenet-cgd_coco.py', 'ssd300_mobilenet-cgd_voc0712.py']
VOC_CLASSES = VOCDataset.METAINFO['classes'][:len(CLASSES)]  # the shapes, under VOC names


def build_detector(name: str):
    cfg = Config.fromfile(str(CGD_DIR / name))
    cfg.model.backbone.init_cfg = None  # no checkpoint file
    with DefaultScope.overwrite_default_scope('mmdet'):
        return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('name', SSD_CGD)
def test_features_at_the_authors_strides_and_cgd_after_every_depthwise_conv(name):
    cfg, detector = build_detector(name)
    backbone = detector.backbone
    assert isinstance(backbone, CGDMobileNet) and backbone.stem_stride == 1
    for block in backbone.layers:  # depthwise conv -> CGD -> BN
        assert block.conv1.groups == block.conv1.in_channels == block.cgd.in_channels
        assert block.before_norm1_plugin_names == ['cgd'] and block.cgd.inplace
    assert sum(isinstance(m, CGD) for m in detector.modules()) == 13
    with torch.no_grad():
        feats = detector.eval().neck(backbone(torch.zeros(1, 3, 300, 300)))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (512, 38, 38), (1024, 19, 19), (512, 10, 10), (256, 5, 5), (256, 3, 3), (256, 1, 1)]
    head = cfg.model.bbox_head
    assert head.in_channels == (512, 1024, 512, 256, 256, 256)
    assert head.anchor_generator.strides == [8, 16, 32, 64, 100, 300]
    assert head.anchor_generator.ratios == [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    assert detector.bbox_head.num_base_priors == [4, 6, 6, 6, 4, 4]


@pytest.mark.parametrize('name, lr, decay_range, batch, times, steps', [
    ('ssd300_mobilenet-cgd_coco.py', 2e-3, (0.15, 0.9), 64, 5, [16, 22]),
    ('ssd300_mobilenet-cgd_voc0712.py', 1e-3, (0.2, 0.9), 32, 10, [16, 20]),
])
def test_the_authors_recipe(name, lr, decay_range, batch, times, steps):
    init = Config.fromfile(str(CGD_DIR / name)).model.backbone.init_cfg
    assert (init.type, init.checkpoint) == ('StrictPretrained',
                                            'checkpoints/cgd-mobilenet_imagenet.pth')
    cfg, detector = build_detector(name)
    assert cfg.model.bbox_head.anchor_generator.basesize_ratio_range == decay_range
    assert cfg.auto_scale_lr.base_batch_size == batch and cfg.train_dataloader.batch_size == 16
    assert cfg.train_dataloader.dataset.type == 'RepeatDataset'
    assert cfg.train_dataloader.dataset.times == times and cfg.train_cfg.max_epochs == 24
    warmup, step = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end, warmup.by_epoch) == (
        'LinearLR', 1 / 3, 500, False)
    assert (step.type, step.milestones, step.gamma) == ('MultiStepLR', steps, 0.1)
    assert cfg.model.data_preprocessor.std == [1, 1, 1]
    pipeline = [t.type for t in cfg.train_pipeline]
    assert pipeline[2:5] == ['PhotoMetricDistortion', 'Expand', 'MinIoURandomCrop']
    with DefaultScope.overwrite_default_scope('mmdet'):
        optimizer = build_optim_wrapper(detector, cfg.optim_wrapper).optimizer
    decay = {id(p): g['weight_decay'] for g in optimizer.param_groups for p in g['params']}
    for group in optimizer.param_groups:
        assert group['lr'] == lr and group['momentum'] == 0.9
    for pname, p in detector.named_parameters():
        expected = 5e-5 if '.cgd.' in pname else 4e-5  # the authors' detection train.py
        assert decay[id(p)] == pytest.approx(expected, rel=1e-12), pname


def quick_run_options(work: str) -> list:
    """Two iterations of batch 2, one thread-free loader, then the validation."""
    return ['--cfg-options', 'model.backbone.init_cfg=None', 'train_cfg.max_epochs=1',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'train_dataloader.dataset.times=1',
            'val_dataloader.batch_size=2', 'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1',
            'randomness.seed=0', f'work_dir={work}']


def test_coco_config_trains_and_evaluates_on_synthetic_coco(tiny_coco, tmp_path):
    root = f'{Path(tiny_coco).resolve()}/'
    classes = f"({','.join(repr(c) for c in CLASSES)},)"
    train = 'train_dataloader.dataset.dataset'
    proc = python('tools/train.py', CGD_DIR / 'ssd300_mobilenet-cgd_coco.py',
                  *quick_run_options(tmp_path),
                  f'model.bbox_head.num_classes={len(CLASSES)}',
                  f'{train}.data_root={root}', f'{train}.ann_file=annotations/instances_train.json',
                  f'{train}.data_prefix.img=train/', f'{train}.metainfo.classes={classes}',
                  f'{train}.indices=4', f'val_dataloader.dataset.data_root={root}',
                  'val_dataloader.dataset.ann_file=annotations/instances_val.json',
                  'val_dataloader.dataset.data_prefix.img=val/',
                  f'val_dataloader.dataset.metainfo.classes={classes}',
                  f'val_evaluator.ann_file={root}annotations/instances_val.json')
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][2/2]' in log and 'coco/bbox_mAP' in log
    assert (tmp_path / 'epoch_1.pth').is_file()


def write_voc_tree(root: Path, splits: dict) -> Path:
    """VOCdevkit/VOC<year>/{JPEGImages,Annotations,ImageSets/Main/<split>.txt} from the
    synthetic generator's images and boxes, its shapes under VOC class names."""
    for (year, split), spec in splits.items():
        voc = root / f'VOC{year}'
        for sub in ('JPEGImages', 'Annotations', 'ImageSets/Main'):
            (voc / sub).mkdir(parents=True, exist_ok=True)
        coco = generate_split(spec, root / 'png', f'{year}{split}_')
        ids = []
        for image in coco['images']:
            stem = Path(image['file_name']).stem
            cv2.imwrite(str(voc / 'JPEGImages' / f'{stem}.jpg'),
                        cv2.imread(str(root / 'png' / image['file_name'])))
            xml = ElementTree.Element('annotation')
            size = ElementTree.SubElement(xml, 'size')
            for key, value in (('width', image['width']), ('height', image['height']),
                               ('depth', 3)):
                ElementTree.SubElement(size, key).text = str(value)
            for ann in (a for a in coco['annotations'] if a['image_id'] == image['id']):
                obj = ElementTree.SubElement(xml, 'object')
                ElementTree.SubElement(obj, 'name').text = VOC_CLASSES[ann['category_id'] - 1]
                ElementTree.SubElement(obj, 'difficult').text = '0'
                box = ElementTree.SubElement(obj, 'bndbox')
                x, y, w, h = ann['bbox']
                for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), (x, y, x + w, y + h)):
                    ElementTree.SubElement(box, key).text = str(value)
            ElementTree.ElementTree(xml).write(voc / 'Annotations' / f'{stem}.xml')
            ids.append(stem)
        (voc / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(ids) + '\n')
    return root


def test_voc_config_trains_and_evaluates_on_a_voc_tree(tmp_path):
    root = write_voc_tree(tmp_path / 'VOCdevkit', {
        ('2007', 'trainval'): SyntheticSpec(2, image_size=128, seed=0),
        ('2012', 'trainval'): SyntheticSpec(2, image_size=128, seed=1),
        ('2007', 'test'): SyntheticSpec(2, image_size=128, seed=2)})
    train = 'train_dataloader.dataset.dataset.datasets'
    proc = python('tools/train.py', CGD_DIR / 'ssd300_mobilenet-cgd_voc0712.py',
                  *quick_run_options(tmp_path / 'work'), f'{train}.0.data_root={root}/',
                  f'{train}.1.data_root={root}/', f'val_dataloader.dataset.data_root={root}/')
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][2/2]' in log and 'pascal_voc/mAP' in log
