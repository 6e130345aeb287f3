"""Training whose randomness depends only on (seed, iteration), so a resumed run is the same run.

mmengine's loops seed once at start. A resumed run re-seeds, re-runs init (and, iteration-based,
skips the k batches already trained), so from then on its RNG states (flip and crop
augmentation, RoI sampling) differ from an uninterrupted run's and the two end with different
weights. Re-seeding with ``seed + i`` right before fetching batch i makes both runs draw the same
numbers from there on. Exact with ``num_workers=0``: dataloader workers keep RNG streams of their
own. Selected by ``configs/_base_/cgd_runtime.py``.

The seed must come from the config: ``runner.seed`` is never None (mmengine draws one when
``randomness.seed`` is unset), and the data sampler is built with it before a resume could
restore the checkpoint's, so a drawn seed gives a resumed run another data order.
"""
import logging

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmengine.runner.utils import set_random_seed


class SeededBatches:
    """Wraps a batch iterator; seeds every RNG with ``seed + i`` before fetching batch i (the
    batches an ``IterBasedTrainLoop`` skips on resume included)."""

    def __init__(self, batches, seed: int):
        self.batches, self.seed, self.fetched = batches, seed, 0

    def __iter__(self):
        return self

    def __next__(self):
        set_random_seed(self.seed + self.fetched)
        self.fetched += 1
        return next(self.batches)


@HOOKS.register_module()
class PerIterationSeedHook(Hook):
    """Seeds every RNG with ``seed + i`` before batch i is fetched: through the batch iterator
    of an ``IterBasedTrainLoop`` (wrapped before it skips the batches a resumed run has trained),
    at each epoch's start and after each iteration of an ``EpochBasedTrainLoop`` (resumed from
    an epoch's end: mmengine restarts a partly trained epoch from its first batch). With another
    loop or without a fixed seed it says that a resumed run will differ."""

    priority = 'LOWEST'  # after every other hook: nothing draws between the seeding and the fetch

    def __init__(self):
        self.seed = None

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        if (runner._randomness_cfg or {}).get('seed') is None:
            problem = 'the config sets no randomness.seed (mmengine draws one per run)'
        elif isinstance(loop, IterBasedTrainLoop):
            loop.dataloader_iterator = SeededBatches(loop.dataloader_iterator, runner.seed)
            return
        elif isinstance(loop, EpochBasedTrainLoop):
            self.seed = runner.seed
            return
        else:
            problem = (f'it seeds IterBasedTrainLoop and EpochBasedTrainLoop, and this run uses '
                       f'{type(loop).__name__}')
        print_log(f'PerIterationSeedHook: a resumed run will not draw the numbers of an '
                  f'uninterrupted one: {problem}', logger='current', level=logging.WARNING)

    def before_train_epoch(self, runner) -> None:
        if self.seed is not None:
            set_random_seed(self.seed + runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.seed is not None:
            set_random_seed(self.seed + runner.iter + 1)  # the loop counts this one after hooks
