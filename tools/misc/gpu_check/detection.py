"""Tier 2, whole detectors on synthetic data: the paper's Mask R-CNN config (--amp) against the
same config without CGD, iterations/s and peak memory; the CPU demo's config, time to bbox AP."""
import copy
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdet_cgd.testing import SyntheticSpec, data_root_options, write_dataset

from .record import Skip

REPO = Path(__file__).resolve().parents[3]
PAPER_CONFIG = REPO / 'configs' / 'cgd' / 'mask-rcnn_r50-cgd_fpn_1x_coco.py'
DEMO_CONFIG = REPO / 'configs' / 'demo' / 'mask-rcnn_r18-cgd_fpn_synthetic.py'
CLASSES = ('disk', 'square', 'triangle', 'star', 'cross')


class Timer(Hook):
    """Seconds and peak memory over the iterations after ``warmup``; time to a bbox mAP."""
    priority = 'LOWEST'

    def __init__(self, warmup: int = 0, target_map: float = None):
        self.warmup, self.target_map = warmup, target_map
        self.start = self.t0 = None
        self.timed_iters, self.evals = 0, []

    def before_train(self, runner):
        self.t0 = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.warmup:
            _sync()
            self.start = time.perf_counter()
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
        elif self.start is not None:
            self.timed_iters += 1

    def after_train(self, runner):
        _sync()
        self.end = time.perf_counter()

    def after_val_epoch(self, runner, metrics=None):
        value = (metrics or {}).get('coco/bbox_mAP', float('nan'))
        self.evals.append(dict(iter=runner.iter, bbox_mAP=value,
                               seconds=time.perf_counter() - self.t0))
        if self.target_map is not None and value >= self.target_map:
            runner.train_loop.stop_training = True


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def dataset(root: Path, tiny: bool, image_size: int, train: int, val: int) -> Path:
    if not (root / 'annotations' / 'instances_val.json').is_file():
        write_dataset(root, SyntheticSpec(train, image_size=image_size, seed=0),
                      SyntheticSpec(val, image_size=image_size, seed=1))
    return root


def configure(cfg: Config, data_root: Path, work_dir: Path, iters: int, amp: bool,
              val_interval: int = 0, tiny: bool = False) -> Config:
    """No weights to load, our data, ``iters`` iterations, no checkpoints; ``tiny``: images
    resized to 128 at most, no loader processes."""
    options = dict(o.split('=', 1) for o in data_root_options(data_root))
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.init_cfg = None
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        files = 'train' if split == 'train' else 'val'
        loader.dataset.update(metainfo=dict(classes=CLASSES), data_prefix=dict(img=f'{files}/'),
                              ann_file=f'annotations/instances_{files}.json')
        loader.num_workers, loader.persistent_workers = (0 if tiny else 4), False
        for transform in loader.dataset.pipeline:
            if tiny and transform.type == 'Resize':
                transform.scale = (128, 128)
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                         val_interval=val_interval or iters + 1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**9, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    cfg.log_processor = dict(by_epoch=False)
    cfg.param_scheduler = []
    if not val_interval:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    if amp:
        cfg.optim_wrapper.type, cfg.optim_wrapper.loss_scale = 'AmpOptimWrapper', 'dynamic'
    return cfg


def without_cgd(cfg: Config) -> Config:
    cfg = copy.deepcopy(cfg)
    backbone = cfg.model.backbone
    backbone.type = 'ResNet'
    backbone.pop('plugins', None)
    backbone.pop('freeze_plugins', None)
    return cfg


def maskrcnn_speed(device: str, tiny: bool, work: str, iters: int) -> dict:
    cuda = device.startswith('cuda')
    if cuda and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    work = Path(work)
    size = 96 if tiny else 640  # square images; the pipeline resizes 640 to 800 x 800
    root = dataset(work / 'data_coco_size', tiny, size, 8 if tiny else 32, 2)
    cgd_cfg = configure(Config.fromfile(str(PAPER_CONFIG)), root, work / 'maskrcnn_cgd', iters,
                        amp=cuda, tiny=tiny)
    warmup = max(1, iters // 5)
    rows = {}
    for name, cfg in (('CGD (paper)', cgd_cfg), ('plain', without_cgd(cgd_cfg))):
        cfg.work_dir = str(work / f'maskrcnn_{name.split()[0].lower()}')
        runner = Runner.from_cfg(cfg)
        timer = Timer(warmup=warmup)
        runner.register_hook(timer)
        runner.train()
        rows[name] = dict(iters_per_s=timer.timed_iters / (timer.end - timer.start),
                          peak_mib=torch.cuda.max_memory_allocated() / 2**20 if cuda else None)
        del runner
        if cuda:
            torch.cuda.empty_cache()
    ratio = rows['CGD (paper)']['iters_per_s'] / rows['plain']['iters_per_s']
    lines = ['| model | iterations/s | peak memory (MiB) |', '| :-- | --: | --: |'] + [
        f"| Mask R-CNN R50-FPN, {name} | {r['iters_per_s']:.2f} | "
        f"{r['peak_mib']:.0f} |" if cuda else f"| {name} | {r['iters_per_s']:.2f} | - |"
        for name, r in rows.items()]
    note = (f'{iters} iterations ({warmup} untimed), batch 2, synthetic {size}x{size} images '
            "resized by the config's pipeline, "
            + ('AMP float16 (--amp).' if cuda else 'float32 (CPU: no --amp).'))
    return dict(summary=f'CGD / plain iterations/s = {ratio:.3f}', rows=rows, ratio=ratio,
                markdown='\n'.join(lines) + '\n\n' + note)


def demo_time_to_ap(device: str, tiny: bool, work: str, target_map: float) -> dict:
    target = target_map
    cuda = device.startswith('cuda')
    if cuda and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    work = Path(work)
    root = dataset(work / 'data_demo', tiny, 128 if tiny else 256, 8 if tiny else 400,
                   4 if tiny else 100)
    iters, interval = (4, 4) if tiny else (1000, 100)
    cfg = configure(Config.fromfile(str(DEMO_CONFIG)), root, work / 'demo', iters, amp=False,
                    val_interval=interval, tiny=tiny)
    cfg.train_dataloader.batch_size = 4  # the demo's own
    cfg.param_scheduler = Config.fromfile(str(DEMO_CONFIG)).param_scheduler
    if tiny:
        cfg.param_scheduler = []
    runner = Runner.from_cfg(cfg)
    timer = Timer(target_map=target)
    runner.register_hook(timer)
    runner.train()
    reached = next((e for e in timer.evals if e['bbox_mAP'] >= target), None)
    best = max((e['bbox_mAP'] for e in timer.evals), default=float('nan'))
    curve = ', '.join(f"{e['iter']}: {e['bbox_mAP']:.3f} at {e['seconds']:.0f} s"
                      for e in timer.evals)
    if reached is None and not tiny:
        raise AssertionError(f'bbox mAP {target} not reached in {iters} iterations '
                             f'(best {best:.3f}; {curve})')
    summary = (f"bbox mAP {reached['bbox_mAP']:.3f} >= {target} at iteration {reached['iter']}, "
               f"{reached['seconds']:.0f} s" if reached else
               f'--tiny: {iters} iterations, bbox mAP {best:.3f} (target {target} not expected)')
    return dict(summary=summary, evals=timer.evals, markdown=f'bbox mAP by iteration: {curve}')
