import json

import cv2
import pytest

from mmdet_cgd.visualization import curve_points, plot_training_curves, read_scalars


def write_run(folder, records):
    path = folder / '20260101_000000' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(r) for r in records))


def test_val_points_sit_at_the_iteration_they_followed(tmp_path):
    write_run(tmp_path, [dict(iter=10, loss=2.0, step=10), dict(iter=20, loss=1.5, step=20),
                         {'coco/bbox_mAP': 0.3, 'step': 0},
                         dict(iter=30, loss=1.0, step=30), {'coco/bbox_mAP': 0.5, 'step': 0}])
    train, val = curve_points(read_scalars(tmp_path))
    assert train == [(10, 2.0), (20, 1.5), (30, 1.0)]
    assert [(it, r['coco/bbox_mAP']) for it, r in val] == [(20, 0.3), (30, 0.5)]
    plot_training_curves({'run': tmp_path}, tmp_path / 'curves.png')
    assert cv2.imread(str(tmp_path / 'curves.png')) is not None


def test_a_folder_without_logs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data/scalars.json under'):
        read_scalars(tmp_path)
