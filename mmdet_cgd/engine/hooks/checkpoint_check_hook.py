"""Checks on the checkpoint the Runner loads (``load_from``, ``resume``), under any tool.

mmengine reads ``load_from`` itself: under mmdet's own ``train.py`` / ``test.py`` no check of ours
runs before it. This hook verifies the file's bytes before the Runner reads it (``before_run``
comes first) and, once read, that it was trained with the model's backbone plugin placement.
"""
import os

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import find_latest_checkpoint

from mmdet_cgd.checkpoint import check_placement, model_backbone_plugins, verify_checkpoint_file


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Raises ``CheckpointError`` for a corrupted ``load_from``/resume file (its zip records'
    CRC-32, a published name's sha256) and for one whose recorded config places the backbone
    plugins otherwise than the model (``CheckpointMismatchError``, naming both placements)."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        name = runner._load_from
        if name is None and runner._resume:
            name = find_latest_checkpoint(runner.work_dir)
        if isinstance(name, str) and os.path.isfile(name):
            verify_checkpoint_file(name)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        check_placement(checkpoint, model_backbone_plugins(runner.model),
                        f'checkpoint {runner._load_from!r}')
