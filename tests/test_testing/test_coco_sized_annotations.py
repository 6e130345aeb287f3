import json
import subprocess
import sys
from pathlib import Path

from pycocotools.coco import COCO

from mmdet_cgd.testing import write_coco_sized_annotations

REPO = Path(__file__).resolve().parents[2]


def test_a_small_one_is_coco_with_boxes_inside_their_images(tmp_path):
    path = tmp_path / 'a.json'
    assert write_coco_sized_annotations(path, 50, 7.5, tmp_path / 'img') == (50, len(COCO(
        str(path)).anns))
    coco = COCO(str(path))
    assert len(coco.imgs) == 50 and 50 * 7 <= len(coco.anns) <= 50 * 8 and len(coco.cats) == 80
    for ann in coco.anns.values():
        img = coco.imgs[ann['image_id']]
        x, y, w, h = ann['bbox']
        assert 0 <= x and 0 <= y and x + w <= img['width'] and y + h <= img['height']
    assert list(json.loads(path.read_text())) == ['info', 'licenses', 'images', 'annotations',
                                                  'categories']
    assert sorted(p.name for p in (tmp_path / 'img').iterdir())[0] == '000000000001.jpg'


def test_the_tool_writes_what_it_says(tmp_path):
    out = subprocess.run([sys.executable, 'tools/misc/make_coco_sized_annotations.py',
                          str(tmp_path / 'b.json'), '--num-images', '20'], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert f"wrote 20 images, {len(COCO(str(tmp_path / 'b.json')).anns)} annotations" in out
