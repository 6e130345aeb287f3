"""Per-iteration seeding for mmengine's ``EpochBasedTrainLoop`` (``reproducible_loop`` says why),
selected by ``configs/_base_/cgd_runtime.py``. A resumed epoch-based run starts from the
checkpoint of an epoch's end: mmengine restarts a partly trained epoch from its first batch."""
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop
from mmengine.runner.utils import set_random_seed

from mmdet_cgd.engine.reproducible_loop import ReproducibleIterBasedTrainLoop, fixed_seed_missing


@HOOKS.register_module()
class PerIterationSeedHook(Hook):
    """Seeds every RNG with ``seed + i`` before an ``EpochBasedTrainLoop`` fetches batch i: at
    each epoch's start and after each iteration. Leaves ``ReproducibleIterBasedTrainLoop`` to
    seed itself; with any other loop (a hook cannot reach the batches ``IterBasedTrainLoop``
    skips on resume) or without a fixed seed it says that a resumed run will differ."""

    priority = 'LOWEST'  # after every other hook: nothing draws between the seeding and the fetch

    def __init__(self):
        self.seed = None

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if isinstance(loop, ReproducibleIterBasedTrainLoop):
            return
        if not isinstance(loop, EpochBasedTrainLoop):
            problem = (f'it seeds EpochBasedTrainLoop only, and this run uses '
                       f'{type(loop).__name__} (for iteration-based training set '
                       "train_cfg.type='ReproducibleIterBasedTrainLoop')")
        elif fixed_seed_missing(runner):
            problem = 'the config sets no randomness.seed (mmengine draws one per run)'
        else:
            self.seed = runner.seed
            return
        print_log(f'PerIterationSeedHook: a resumed run will not draw the numbers of an '
                  f'uninterrupted one: {problem}', logger='current', level=logging.WARNING)

    def before_train_epoch(self, runner) -> None:
        if self.seed is not None:
            set_random_seed(self.seed + runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.seed is not None:
            set_random_seed(self.seed + runner.iter + 1)  # the loop counts this one after hooks
