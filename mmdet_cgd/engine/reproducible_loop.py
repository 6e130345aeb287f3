"""Training whose randomness depends only on (seed, iteration), so a resumed run is the same run.

mmengine's loops seed once at start. A resumed run re-seeds, re-runs init (and, iteration-based,
skips the k batches already trained), so from then on its RNG states (flip and crop
augmentation, RoI sampling) differ from an uninterrupted run's and the two end with different
weights. Re-seeding with ``seed + i`` right before fetching batch i makes both runs draw the same
numbers from there on: ``ReproducibleIterBasedTrainLoop`` does it for iteration-based training,
``hooks.PerIterationSeedHook`` for mmengine's ``EpochBasedTrainLoop``. Exact with
``num_workers=0``: dataloader workers keep RNG streams of their own.

The seed must come from the config: ``runner.seed`` is never None (mmengine draws one when
``randomness.seed`` is unset), and the data sampler is built with it before a resume could
restore the checkpoint's, so a drawn seed gives a resumed run another data order.
"""
from mmengine.registry import LOOPS
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.utils import set_random_seed


def fixed_seed_missing(runner) -> bool:
    return (runner._randomness_cfg or {}).get('seed') is None


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
        if fixed_seed_missing(runner):
            raise ValueError(
                'ReproducibleIterBasedTrainLoop needs a fixed seed, and the config sets none '
                '(mmengine then draws a new one per run, so a resumed run differs): set '
                'randomness.seed, e.g. --cfg-options randomness.seed=0')
        super().__init__(runner, dataloader, *args, **kwargs)
        self.dataloader_iterator = SeededBatches(self.dataloader_iterator, runner.seed)
