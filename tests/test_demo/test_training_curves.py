import json

import cv2
import pytest
from figures import curve_points, plot_training_curves, read_scalars


def write_run(folder, records, stamp='20260101_000000'):
    path = folder / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(r) for r in records))


def val_record(ap, step):
    return {'coco/bbox_mAP': ap, 'coco/segm_mAP': ap / 2, 'step': step}


def test_val_points_sit_at_their_own_iteration_not_at_the_last_loss_record(tmp_path):
    # the demo at --max-iters 40: validation every 10 iterations, a loss record every 25
    write_run(tmp_path, [val_record(0.1, 10), val_record(0.2, 20), dict(iter=25, loss=2.0, step=25),
                         val_record(0.3, 30), val_record(0.4, 40)])
    train, val = curve_points(read_scalars(tmp_path))
    assert train == [(25, 2.0)]
    assert [(it, r['coco/bbox_mAP']) for it, r in val] == [(10, 0.1), (20, 0.2), (30, 0.3),
                                                            (40, 0.4)]
    plot_training_curves({'run': tmp_path}, tmp_path / 'curves.png')
    assert cv2.imread(str(tmp_path / 'curves.png')) is not None


def test_a_resumed_run_continues_from_its_second_log_folder(tmp_path):
    write_run(tmp_path, [dict(iter=5, loss=2.0, step=5), val_record(0.1, 5)])
    write_run(tmp_path, [dict(iter=10, loss=1.0, step=10), val_record(0.2, 10)],
              stamp='20260101_010000')
    train, val = curve_points(read_scalars(tmp_path))
    assert train == [(5, 2.0), (10, 1.0)] and [it for it, _ in val] == [5, 10]


@pytest.mark.parametrize('records', [
    [val_record(0.1, 0), dict(iter=25, loss=2.0, step=25), val_record(0.2, 0)],  # iteration run
    [dict(iter=8, loss=2.0, step=8, epoch=1), val_record(0.1, 1)],  # epoch run
], ids=['iteration-run', 'epoch-run'])
def test_val_records_stamped_with_the_epoch_are_refused(tmp_path, records):
    write_run(tmp_path, records)
    with pytest.raises(ValueError, match='it gives the epoch; expected a run logged with .*'
                       'log_metric_by_epoch=False'):
        curve_points(read_scalars(tmp_path))


def test_a_folder_without_logs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data/scalars.json under'):
        read_scalars(tmp_path)
