"""mmengine's ``LoggerHook``, with the test metrics json written by the main process only.

mmengine 0.10.7's ``LoggerHook.after_test_epoch`` dumps the metrics json on every rank, to the
same path: in a distributed test the ranks' writes interleave and the file can end in another
rank's tail (``...}2}``), which no json reader accepts. Training and validation scalars already
go through the visualizer, which writes on the main process only; so does this.
"""
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class MainProcessLoggerHook(LoggerHook):
    """``LoggerHook`` whose ``after_test_epoch`` (log line and metrics json) runs on rank 0 only."""

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if is_main_process():
            super().after_test_epoch(runner, metrics)
