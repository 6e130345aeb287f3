"""Saves checkpoints that load with ``weights_only=True`` and no ``builtins.getattr``.

mmengine 0.10.7's ``HistoryBuffer`` pickles its statistics methods, which take ``getattr`` to
unpickle, a global that would let a hostile file reach far more. Our configs select this hook;
importing the package changes no class.
"""
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import HOOKS

from mmdet_cgd.checkpoint import LogBuffer


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Saves the message hub's log buffers as ``LogBuffer`` so the checkpoint loads with
    ``weights_only=True`` and our allow-list, without ``builtins.getattr``."""

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        scalars = (checkpoint.get('message_hub') or {}).get('log_scalars') or {}
        for key, buffer in scalars.items():
            if isinstance(buffer, HistoryBuffer) and not isinstance(buffer, LogBuffer):
                plain = LogBuffer.__new__(LogBuffer)  # the Runner saves copies: no live buffer
                plain.__dict__.update(buffer.__dict__)
                scalars[key] = plain
