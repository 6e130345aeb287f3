"""The test metrics json is written by rank 0 alone, so ranks cannot interleave their writes."""
import json
from types import SimpleNamespace

import pytest
from mmengine.logging import MMLogger

from mmdet_cgd.engine import MainProcessLoggerHook
from mmdet_cgd.engine.hooks import main_process_logger_hook


class FakeLogProcessor:
    def get_log_after_epoch(self, runner, batches, mode, with_non_scalar=False):
        return {'coco/bbox_mAP': 0.5, 'time': 0.123456789}, 'Epoch(test) done'


def fake_runner(log_dir):
    return SimpleNamespace(log_processor=FakeLogProcessor(), log_dir=str(log_dir),
                           test_dataloader=[None] * 3,
                           logger=MMLogger.get_instance('test_main_process_logger_hook'))


@pytest.mark.parametrize('main', [True, False])
def test_only_the_main_process_writes_the_test_metrics_json(main, tmp_path, monkeypatch):
    monkeypatch.setattr(main_process_logger_hook, 'is_main_process', lambda: main)
    hook = MainProcessLoggerHook()
    hook.json_log_path = 'run.json'
    hook.after_test_epoch(fake_runner(tmp_path))
    written = tmp_path / 'run.json'
    assert written.exists() == main
    if main:
        assert json.loads(written.read_text())['coco/bbox_mAP'] == 0.5
