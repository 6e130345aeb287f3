# mmdet's default runtime, with what every mmdet-cgd detection config selects:
# - our modules registered (CGD, the CGD backbones, hooks, StrictPretrained, atomic_local);
# - checkpoints written atomically (temp file + rename): a run killed mid-save keeps the last one;
# - checkpoints that load with torch.load(weights_only=True) (log buffers saved without
#   builtins.getattr);
# - in a distributed test, rank 0 alone writes the metrics json (mmengine's LoggerHook: every rank);
# - a checkpoint loaded by the Runner (load_from, resume) is verified (zip CRC-32s, a published
#   name's sha256), must fit the model exactly (mmengine only logs a misfit) and place the
#   backbone plugins as the model does;
# - training stops at the first non-finite loss, and no checkpoint with NaN/inf is saved;
# - a fixed seed, and every RNG re-seeded with seed + i before batch i is fetched: a run resumed
#   from a checkpoint saved at an epoch's end (EpochBasedTrainLoop), or at any iteration
#   (IterBasedTrainLoop), draws the data order, augmentations and samplings of the
#   uninterrupted one, with num_workers=0 (dataloader workers keep RNG streams of their own);
#   mmengine seeds once per run, and draws a new seed per run when none is set.
# A config uses it in place of 'mmdet::_base_/default_runtime.py' in its list of bases.
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['mmdet_cgd'], allow_failed_imports=False)

default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')),
                     logger=dict(type='MainProcessLoggerHook'),
                     iteration_seed=dict(type='PerIterationSeedHook'))
custom_hooks = [dict(type='WeightsOnlyCheckpointHook'), dict(type='CheckpointCheckHook'),
                dict(type='FiniteTrainingHook', interval=1)]
randomness = dict(seed=0)
