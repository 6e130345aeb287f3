import hashlib
import json

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from synthetic_coco import CLASSES, SyntheticSpec, write_dataset


def digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    return write_dataset(root, SyntheticSpec(12, image_size=160, seed=3),
                         SyntheticSpec(5, image_size=160, seed=4))


def test_same_seed_same_bytes_other_seed_other_bytes(dataset, tmp_path):
    again = write_dataset(tmp_path / 'a', SyntheticSpec(12, image_size=160, seed=3),
                          SyntheticSpec(5, image_size=160, seed=4))
    assert digest(again) == digest(dataset)
    other = write_dataset(tmp_path / 'b', SyntheticSpec(12, image_size=160, seed=5),
                          SyntheticSpec(5, image_size=160, seed=4))
    assert digest(other) != digest(dataset)


def test_pycocotools_accepts_it_and_masks_match_boxes(dataset):
    path = dataset / 'annotations' / 'instances_train.json'
    coco = COCO(str(path))
    assert len(coco.imgs) == 12 and [c['name'] for c in coco.cats.values()] == list(CLASSES)
    assert len(coco.anns) == len(json.loads(path.read_text())['annotations'])  # unique ids
    assert all((dataset / 'train' / im['file_name']).is_file() for im in coco.imgs.values())
    assert len(coco.anns) >= 12
    used = {a['category_id'] for a in coco.anns.values()}
    assert len(used) >= 3, 'several classes appear'
    sizes = [max(a['bbox'][2:]) for a in coco.anns.values()]
    assert max(sizes) > 2 * min(sizes), 'object sizes vary'
    for ann in coco.anns.values():
        img = coco.imgs[ann['image_id']]
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= img['width'] and y + h <= img['height']
        mask = coco.annToMask(ann)
        assert mask.sum() > 0
        ys, xs = np.nonzero(mask)
        # polygons trace pixel centres: the rasterised mask sits inside the box, within a pixel
        assert xs.min() >= x - 1 and xs.max() <= x + w and ys.min() >= y - 1 and ys.max() <= y + h
        assert abs(int(mask.sum()) - ann['area']) <= 0.35 * ann['area'] + 30


def test_ground_truth_scores_perfect_coco_ap(dataset):
    """The json is complete enough for COCOeval: GT as detections gives AP 1."""
    coco = COCO(str(dataset / 'annotations' / 'instances_val.json'))
    dets = coco.loadRes([dict(image_id=a['image_id'], category_id=a['category_id'],
                              bbox=a['bbox'], score=1.0) for a in coco.anns.values()])
    ev = COCOeval(coco, dets, 'bbox')
    ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_mmdet_coco_dataset_loads_it(dataset):
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    ds = CocoDataset(data_root=str(dataset), ann_file='annotations/instances_train.json',
                     data_prefix=dict(img='train/'), metainfo=dict(classes=CLASSES),
                     pipeline=[dict(type='LoadImageFromFile'),
                               dict(type='LoadAnnotations', with_bbox=True, with_mask=True)])
    sample = ds[0]
    assert sample['img'].shape == (160, 160, 3)
    assert len(sample['gt_bboxes']) == len(sample['gt_masks']) > 0
