"""Checks on the checkpoint the Runner loads (``load_from``, ``resume``), under any tool.

mmengine reads ``load_from`` itself, with ``strict=False``: a misfit is only logged, so a stock
checkpoint under a CGD config would test (or go on training) with CGD as built, not as trained.
This hook verifies the file's bytes before the Runner reads it (``before_run`` comes first) and,
once read, that it fits the model exactly and was trained with the model's backbone plugin
placement: under mmdet's tools and ours alike (ours add it to a config that lacks it).
"""
import os

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import find_latest_checkpoint

from mmdet_cgd.checkpoint import (
    check_fit,
    check_placement,
    model_backbone_plugins,
    unwrap_state_dict,
    verify_checkpoint_file,
)
from mmdet_cgd.checkpoint.placement import unwrap_model


@HOOKS.register_module()
class CheckpointCheckHook(Hook):
    """Raises ``CheckpointError`` for a corrupted ``load_from``/resume file (its zip records'
    CRC-32, a published name's sha256), and ``CheckpointMismatchError`` for one that does not fit
    the model (naming the keys) or whose recorded config places the backbone plugins otherwise
    (naming both placements)."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        name = runner._load_from
        if name is None and runner._resume:
            name = find_latest_checkpoint(runner.work_dir)
        if isinstance(name, str) and os.path.isfile(name):
            verify_checkpoint_file(name)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model, source = unwrap_model(runner.model), f'checkpoint {runner._load_from!r}'
        check_fit(model.state_dict(), unwrap_state_dict(checkpoint, source), source=source,
                  hint='for a backbone-only or partial fit, load it through the backbone init_cfg '
                  "(type='StrictPretrained', new_keys=[...]) instead", path=runner._load_from)
        check_placement(checkpoint, model_backbone_plugins(model), source)
