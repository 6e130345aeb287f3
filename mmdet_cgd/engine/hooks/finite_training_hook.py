"""Stop training at the first non-finite loss; never save a checkpoint of a poisoned model.

mmdet's ``CheckInvalidLossHook`` asserts a finite loss every ``interval`` iterations, but its
``AssertionError`` carries no message (the log line says only "loss become infinite or NaN!"),
and nothing keeps the ``CheckpointHook`` from saving a model whose weights or BatchNorm
statistics already hold NaN. This is that hook with both: the error names the iteration and the
non-finite loss terms, and ``before_save_checkpoint`` refuses non-finite tensors.
"""
import math
from typing import Optional

import torch
from mmdet.engine.hooks import CheckInvalidLossHook
from mmengine.registry import HOOKS

from mmdet_cgd.utils.errors import NonFiniteError

SHOWN = 5


def _value(v) -> float:
    return float(v.detach().float().mean()) if isinstance(v, torch.Tensor) else float(v)


@HOOKS.register_module()
class FiniteTrainingHook(CheckInvalidLossHook):
    """Raises ``NonFiniteError`` at the first iteration (every ``interval``-th, default 1) whose
    loss is NaN or infinite, and before saving a checkpoint with a non-finite tensor."""

    priority = 'ABOVE_NORMAL'  # before the CheckpointHook (VERY_LOW) of the same iteration

    def __init__(self, interval: int = 1) -> None:  # mmdet's default: 50
        super().__init__(interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or 'loss' not in outputs or not self.every_n_train_iters(
                runner, self.interval):
            return
        if torch.isfinite(torch.as_tensor(outputs['loss'])).all():
            return
        terms = {k: _value(v) for k, v in outputs.items()
                 if isinstance(v, (torch.Tensor, float, int)) and k.startswith('loss')}
        bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
        raise NonFiniteError(
            f'training stopped at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): '
            f'non-finite loss {bad}; the weights updated with it are not saved. Look for '
            'NaN/inf in the data or a learning rate that diverges, and resume from the last '
            'checkpoint')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict') or {}
        bad = [k for k, v in state.items()
               if isinstance(v, torch.Tensor) and v.is_floating_point()
               and not torch.isfinite(v).all()]
        if bad:
            meta = checkpoint.get('meta') or {}
            more = f' and {len(bad) - SHOWN} more' if len(bad) > SHOWN else ''
            raise NonFiniteError(
                f'refused to save the checkpoint of iteration {meta.get("iter", runner.iter)} '
                f'(epoch {meta.get("epoch", runner.epoch)}): {len(bad)} tensors hold NaN or '
                f'infinity ({bad[:SHOWN]}{more}); the model diverged: resume from the last '
                'checkpoint with a lower learning rate, or check the data')
