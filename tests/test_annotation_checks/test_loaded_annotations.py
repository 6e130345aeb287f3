import json

import pytest
from mmengine.dataset import ConcatDataset, RepeatDataset
from mmengine.registry import init_default_scope

from mmdet_cgd.annotation_checks import check_loaded_annotations, leaf_datasets
from mmdet_cgd.annotation_checks.loaded_annotations import sample_indices
from mmdet_cgd.testing import CLASSES


def coco_dataset(root, ann_file, **kwargs):
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    return CocoDataset(data_root=str(root), ann_file=str(ann_file), data_prefix=dict(img='val/'),
                       metainfo=dict(classes=CLASSES), pipeline=[], **kwargs)


def broken_copy(tiny_coco, tmp_path, edit):
    coco = json.loads((tiny_coco / 'annotations' / 'instances_val.json').read_text())
    edit(coco)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(coco))
    return path


def test_clean_data_passes_with_a_summary(tiny_coco):
    ds = coco_dataset(tiny_coco, 'annotations/instances_val.json')
    summary = check_loaded_annotations(ds, image_sample=2)
    boxes = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
    assert f'4 images, all {boxes} boxes inside their images; 2 image files sampled' in summary


@pytest.mark.parametrize('serialize_data', [True, False])
def test_box_outside_and_missing_image_are_named(tiny_coco, tmp_path, serialize_data):
    def edit(coco):
        coco['images'][0]['file_name'] = 'gone.png'
        coco['annotations'][-1]['bbox'] = [100, 100, 60, 10]

    ann = broken_copy(tiny_coco, tmp_path, edit)
    ds = coco_dataset(tiny_coco, ann, serialize_data=serialize_data)
    with pytest.raises(ValueError) as err:
        check_loaded_annotations(ds)
    msg = str(err.value)
    assert msg.startswith(f"{str(ann)!r} (images in ") and 'val/' in msg.split(':')[0]
    assert 'missing file' in msg and 'gone.png' in msg
    image_id = json.loads(ann.read_text())['annotations'][-1]['image_id']
    assert f'image {image_id}: bbox [100, 100, 60, 10] outside its 128x128 image' in msg


def test_float_boxes_within_the_tolerance_pass(tiny_coco, tmp_path):
    def edit(coco):
        coco['annotations'][0]['bbox'] = [-0.5, 10.25, 128.4, 20.5]

    ds = coco_dataset(tiny_coco, broken_copy(tiny_coco, tmp_path, edit))
    check_loaded_annotations(ds, box_tolerance=1.0)
    with pytest.raises(ValueError, match=r'bbox \[-0.5, 10.25, 128.4, 20.5\] outside'):
        check_loaded_annotations(ds, box_tolerance=0.0)


def test_only_the_sample_of_image_files_is_checked(tiny_coco, tmp_path):
    assert sample_indices(4, 2) == [0, 3] and sample_indices(3, 64) == [0, 1, 2]
    coco_train = sample_indices(118287, 64)
    assert len(coco_train) == 64 and coco_train[:2] == [0, 1878] and coco_train[-1] == 118286

    def edit(coco):
        coco['images'][1]['file_name'] = 'not-sampled.png'

    ds = coco_dataset(tiny_coco, broken_copy(tiny_coco, tmp_path, edit))
    check_loaded_annotations(ds, image_sample=2)  # images 0 and 3 only: the loader finds it
    with pytest.raises(ValueError, match='missing file .*not-sampled.png'):
        check_loaded_annotations(ds, image_sample=4)


def test_many_problems_are_counted_not_listed(tiny_coco, tmp_path):
    def edit(coco):
        coco['annotations'] = [dict(ann, id=i + 1, bbox=[120, 120, 30, 30])
                               for i, ann in enumerate(coco['annotations'] * 4)]

    ds = coco_dataset(tiny_coco, broken_copy(tiny_coco, tmp_path, edit))
    total = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
    assert total > 10
    with pytest.raises(ValueError, match=rf'\(and {total - 10} more\)$'):
        check_loaded_annotations(ds)


def test_a_dataset_filtered_to_nothing_is_an_error(tiny_coco, tmp_path):
    # serialized (the default), mmengine itself fails on an empty list when building it
    ds = coco_dataset(tiny_coco, 'annotations/instances_val.json', serialize_data=False,
                      filter_cfg=dict(filter_empty_gt=True, min_size=1000))
    with pytest.raises(ValueError, match='no images left to load: expected at least one'):
        check_loaded_annotations(ds)


def test_wrappers_are_looked_through(tiny_coco):
    a = coco_dataset(tiny_coco, 'annotations/instances_val.json')
    b = coco_dataset(tiny_coco, 'annotations/instances_val.json')
    assert leaf_datasets(ConcatDataset([a, b])) == [a, b]
    assert leaf_datasets(RepeatDataset(a, times=2)) == [a] and leaf_datasets(a) == [a]


def set_box(index, bbox):
    def edit(coco):
        coco['annotations'][index]['bbox'] = bbox
    return edit


@pytest.mark.parametrize('bbox, dropped', [([10, 10, float('nan'), 20], True),
                                           ([float('nan'), 10, 20, 20], True),
                                           ([10, 10, float('inf'), 20], False)])
def test_a_non_finite_box_is_an_error_whether_mmdet_drops_it_or_not(tiny_coco, tmp_path, bbox,
                                                                     dropped):
    from mmdet_cgd.utils import AnnotationError
    ann = broken_copy(tiny_coco, tmp_path, set_box(0, bbox))
    image_id = json.loads(ann.read_text())['annotations'][0]['image_id']
    ds = coco_dataset(tiny_coco, ann)
    with pytest.raises(AnnotationError) as err:
        check_loaded_annotations(ds)
    assert f'image {image_id}: bbox ' in str(err.value) and 'is not finite' in str(err.value)
    assert ('(mmdet drops it silently)' in str(err.value)) == dropped


def test_every_box_mmdet_drops_is_counted_and_named(tiny_coco, tmp_path):
    """A file of N boxes of which mmdet loads fewer: not 'all N-k boxes inside their images'."""
    def edit(coco):
        coco['annotations'][0]['bbox'] = [10, 10, 0.5, 20]
        coco['annotations'][1]['category_id'] = 99

    ann = broken_copy(tiny_coco, tmp_path, edit)
    total = len(json.loads(ann.read_text())['annotations'])
    ds = coco_dataset(tiny_coco, ann)
    summary = check_loaded_annotations(ds)
    assert f"all {total - 2} loaded boxes inside their images; mmdet dropped 2 of the file's " \
           f'{total} boxes: ' in summary
    assert '1 under 1 pixel wide or high, or area <= 0 (image ' in summary
    assert 'bbox [10, 10, 0.5, 20])' in summary
    assert "1 category 99 not among the dataset's classes (image " in summary


def test_nothing_dropped_costs_no_parse(tiny_coco, monkeypatch):
    """mmdet's own index (``cat_img_map``) counts the file's boxes."""
    from mmdet_cgd.annotation_checks import dropped_boxes
    ds = coco_dataset(tiny_coco, 'annotations/instances_val.json')
    monkeypatch.setattr(dropped_boxes, 'json', None)  # a parse would fail
    summary = check_loaded_annotations(ds)
    assert 'boxes inside their images;' in summary and 'dropped' not in summary


def test_above_the_parse_limit_dropped_boxes_are_counted_not_named(tiny_coco, tmp_path):
    from mmdet_cgd.annotation_checks.dropped_boxes import dropped_boxes
    from mmdet_cgd.annotation_checks.loaded_annotations import describe_dropped
    ann = broken_copy(tiny_coco, tmp_path, set_box(0, [10, 10, 0.5, 20]))
    total = len(json.loads(ann.read_text())['annotations'])
    ds = coco_dataset(tiny_coco, ann)
    loaded = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    named = dropped_boxes(ds, total - 1, loaded)
    assert named.in_file == total
    assert len(named.by_reason['under 1 pixel wide or high, or area <= 0']) == 1
    counted = dropped_boxes(ds, total - 1, loaded, parse_limit=0)
    assert counted == (total, None)
    assert describe_dropped(counted, total - 1) == (
        f"mmdet dropped 1 of the file's {total} boxes (a file this large is not parsed a second "
        'time to say which)')


def test_images_left_out_by_indices_are_not_blamed_on_filter_cfg(tiny_coco):
    """#31 case 10: ``indices=2`` keeps two of the four images; the others were not filtered."""
    from mmdet_cgd.annotation_checks.dropped_boxes import left_out_by
    ds = coco_dataset(tiny_coco, 'annotations/instances_val.json', indices=2)
    summary = check_loaded_annotations(ds)
    assert 'its image was left out (indices=2)' in summary and 'filter_cfg' not in summary
    image = dict(id=1, width=128, height=128)
    ds.filter_cfg = dict(filter_empty_gt=True)
    assert left_out_by(ds, image, with_box=set()) == 'filter_cfg'  # no box of its classes
    assert left_out_by(ds, image, with_box={1}) == 'indices=2'
    ds.filter_cfg = dict(min_size=129)
    assert left_out_by(ds, image, with_box={1}) == 'filter_cfg'
