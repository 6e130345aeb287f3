"""An iteration-based train loop whose randomness depends only on (seed, iteration).

mmengine's loop seeds once at start. A run resumed at iteration k re-seeds, re-runs init and
skips k batches, so from then on its RNG states (flip augmentation, RoI sampling) differ from an
uninterrupted run's and the two end with different weights. Re-seeding with ``seed + i`` right
before fetching batch i makes both runs draw the same numbers from there on. Exact with
``num_workers=0`` (workers keep RNG streams of their own).
"""
from mmengine.registry import LOOPS
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.utils import set_random_seed


class SeededBatches:
    """Wraps a batch iterator; seeds every RNG with ``seed + i`` before fetching batch i."""

    def __init__(self, batches, seed: int):
        self.batches, self.seed, self.fetched = batches, seed, 0

    def __iter__(self):
        return self

    def __next__(self):
        set_random_seed(self.seed + self.fetched)
        self.fetched += 1
        return next(self.batches)


@LOOPS.register_module()
class ReproducibleIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` with per-iteration seeding: resuming gives the same run."""

    def __init__(self, runner, dataloader, *args, **kwargs):
        super().__init__(runner, dataloader, *args, **kwargs)
        if runner.seed is None:
            raise ValueError('ReproducibleIterBasedTrainLoop needs a seed: set randomness.seed')
        self.dataloader_iterator = SeededBatches(self.dataloader_iterator, runner.seed)
