"""Whole detectors on synthetic data, with mmcv's NMS and RoIAlign through torchvision where
mmcv has no compiled ops for the device (``substitutes``; the record says which ran):

- the paper's Mask R-CNN config (``--amp`` on CUDA), CGD against the same config without CGD:
  per-iteration time (median with its interval, after warm-up) and peak memory;
- the same config through ``tools/dist_train.sh CONFIG 1`` (NCCL on CUDA, gloo on CPU), the
  launcher users run, a few iterations;
- the CPU demo's config until bbox mAP 0.5 on held-out images.
"""
import copy
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmdet_cgd.testing import SyntheticSpec, data_root_options, write_dataset

from .record import Skip
from .substitutes import describe, use_torchvision_roi_align

REPO = Path(__file__).resolve().parents[3]
PAPER_CONFIG = REPO / 'configs' / 'cgd' / 'mask-rcnn_r50-cgd_fpn_1x_coco.py'
DEMO_CONFIG = REPO / 'configs' / 'demo' / 'mask-rcnn_r18-cgd_fpn_synthetic.py'
CLASSES = ('disk', 'square', 'triangle', 'star', 'cross')
STEP_GOAL, MEMORY_GOAL = 1.03, 1.02  # issue #24: Mask R-CNN iteration and peak memory


class Timer(Hook):
    """Each iteration's seconds after ``warmup`` (device synchronised), peak memory over them;
    evaluations with their time from the start; stops at ``target_map``."""
    priority = 'LOWEST'

    def __init__(self, warmup: int = 0, target_map: float = None):
        self.warmup, self.target_map = warmup, target_map
        self.t0 = self.last = None
        self.iter_seconds, self.evals = [], []

    def before_train(self, runner):
        self.t0 = time.perf_counter()

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.warmup and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        _sync()
        self.last = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        _sync()
        if runner.iter >= self.warmup:
            self.iter_seconds.append(time.perf_counter() - self.last)

    def after_val_epoch(self, runner, metrics=None):
        value = (metrics or {}).get('coco/bbox_mAP', float('nan'))
        self.evals.append(dict(iter=runner.iter, bbox_mAP=value,
                               seconds=time.perf_counter() - self.t0))
        if self.target_map is not None and value >= self.target_map:
            runner.train_loop.stop_training = True


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def dataset(root: Path, image_size: int, train: int, val: int) -> Path:
    if not (root / 'annotations' / 'instances_val.json').is_file():
        write_dataset(root, SyntheticSpec(train, image_size=image_size, seed=0),
                      SyntheticSpec(val, image_size=image_size, seed=1))
    return root


def configure(cfg: Config, data_root: Path, work_dir: Path, iters: int, amp: bool,
              substitutes: bool, val_interval: int = 0, tiny: bool = False) -> Config:
    """No weights to load, our data, ``iters`` iterations, no checkpoints; ``substitutes``:
    torchvision's NMS and RoIAlign; ``tiny``: images resized to 128 at most, no loader
    processes."""
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
    if substitutes:
        use_torchvision_roi_align(cfg.model)
        cfg.custom_imports = dict(imports=['mmdet_cgd', 'gpu_check.substitutes'],
                                  allow_failed_imports=False)
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='TorchvisionOpsHook')]
    return cfg


def without_cgd(cfg: Config) -> Config:
    cfg = copy.deepcopy(cfg)
    backbone = cfg.model.backbone
    backbone.type = 'ResNet'
    backbone.pop('plugins', None)
    backbone.pop('freeze_plugins', None)
    return cfg


def substitute_calls(runner) -> dict:
    hook = next((h for h in runner.hooks if type(h).__name__ == 'TorchvisionOpsHook'), None)
    return dict(hook.stand_in.calls) if hook else {}


def maskrcnn_speed(device: str, tiny: bool, work: str, iters: int, substitutes: bool) -> dict:
    """CGD (paper) then plain, ``iters`` iterations each, the first fifth untimed."""
    from cgd_cost.stats import median_interval
    cuda = device.startswith('cuda')
    if cuda and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    work = Path(work)
    size = 96 if tiny else 640  # COCO's longest side; the pipeline resizes 640 to 800 x 800
    root = dataset(work / 'data_coco_size', size, 8 if tiny else 32, 2)
    cgd_cfg = configure(Config.fromfile(str(PAPER_CONFIG)), root, work / 'maskrcnn_cgd', iters,
                        amp=cuda, substitutes=substitutes, tiny=tiny)
    warmup = max(1, iters // 5)
    rows, calls = {}, {}
    for name, cfg in (('CGD (paper)', cgd_cfg), ('plain', without_cgd(cgd_cfg))):
        cfg.work_dir = str(work / f'maskrcnn_{name.split()[0].lower()}')
        torch.backends.cudnn.benchmark = cuda
        runner = Runner.from_cfg(cfg)
        timer = Timer(warmup=warmup)
        runner.register_hook(timer)
        runner.train()
        iv = median_interval(timer.iter_seconds)
        rows[name] = dict(seconds=iv.__dict__, samples=timer.iter_seconds,
                          peak_mib=torch.cuda.max_memory_allocated() / 2**20 if cuda else None)
        calls[name] = substitute_calls(runner)
        del runner
        if cuda:
            torch.cuda.empty_cache()
    cgd, plain = rows['CGD (paper)']['seconds'], rows['plain']['seconds']
    ratio = cgd['median'] / plain['median']
    # where the two intervals could put the medians: a conservative range for their ratio
    low, high = cgd['low'] / plain['high'], cgd['high'] / plain['low']
    lines = ['| model | seconds per iteration, median [95% interval] | peak memory (MiB) |',
             '| :-- | --: | --: |']
    for name, r in rows.items():
        s = r['seconds']
        peak = f"{r['peak_mib']:.0f}" if cuda else '-'
        lines.append(f"| Mask R-CNN R50-FPN, {name} | {s['median']:.4f} [{s['low']:.4f}, "
                     f"{s['high']:.4f}] | {peak} |")
    memory = (rows['CGD (paper)']['peak_mib'] / rows['plain']['peak_mib']) if cuda else None
    used = (describe(sum((Counter(c) for c in calls.values()), Counter())) if substitutes
            else "mmcv's own compiled ops (no substitutes)")
    note = (f'{iters} iterations each ({warmup} untimed), batch 2, synthetic {size}x{size} '
            "images resized by the config's pipeline, "
            + ('AMP float16 (--amp)' if cuda else 'float32 (CPU: no --amp)')
            + f'. CGD / plain: {ratio:.3f} (the intervals allow [{low:.3f}, {high:.3f}]; goal <= '
            f'{STEP_GOAL})' + (f'; peak memory {memory:.3f} (goal <= {MEMORY_GOAL})'
                               if cuda else '') + f'. NMS and RoIAlign: {used}.')
    return dict(summary=f'iteration CGD / plain = {ratio:.3f} [{low:.3f}, {high:.3f}]'
                        + (f', peak memory {memory:.3f}' if cuda else '') + f'; {used}',
                rows=rows, ratio=ratio, ratio_range=[low, high], memory_ratio=memory,
                substitutes=substitutes, substitute_calls=calls,
                markdown='\n'.join(lines) + '\n\n' + note)


def dist_train(device: str, tiny: bool, work: str, iters: int, substitutes: bool) -> dict:
    """``bash tools/dist_train.sh CONFIG 1``: the paper config, written out with our data."""
    cuda = device.startswith('cuda')
    if cuda and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    work = Path(work)
    root = dataset(work / 'data_coco_size', 96 if tiny else 640, 8 if tiny else 32, 2)
    cfg = configure(Config.fromfile(str(PAPER_CONFIG)), root, work / 'dist_train', iters,
                    amp=False, substitutes=substitutes, tiny=tiny)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    config = work / 'dist_train_paper_config.py'
    cfg.dump(str(config))
    cmd = ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '1'] + (
        ['--amp'] if cuda else [])
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000))
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    (work / 'dist_train.log').write_text(log)
    backend = re.search(r"backend['\"]?: ?['\"]?(\w+)", log)
    if proc.returncode:
        from .record import first_error_line
        raise RuntimeError(f'exit {proc.returncode}: {first_error_line(log)}')
    done = re.findall(r'Iter\(train\) \[\s*(\d+)/\s*(\d+)\]', log)
    if not done or int(done[-1][0]) != iters:
        raise AssertionError(f'expected {iters} logged iterations, saw {done[-1:] or "none"}')
    served = re.search(r'TorchvisionOpsHook: torchvision substitutes ran (.*)', log)
    if substitutes and not served:
        raise AssertionError('the substitutes hook did not report')
    return dict(summary=f'{iters} iterations in {seconds:.0f} s through tools/dist_train.sh, '
                        f"backend {backend.group(1) if backend else '?'}"
                        + (f', torchvision substitutes ran {served.group(1)}' if served else ''),
                seconds=seconds, backend=backend.group(1) if backend else None,
                substitutes=substitutes)


def demo_time_to_ap(device: str, tiny: bool, work: str, target_map: float,
                    substitutes: bool) -> dict:
    cuda = device.startswith('cuda')
    if cuda and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    work = Path(work)
    root = dataset(work / 'data_demo', 128 if tiny else 256, 8 if tiny else 400,
                   4 if tiny else 100)
    iters, interval = (4, 4) if tiny else (1000, 100)
    cfg = configure(Config.fromfile(str(DEMO_CONFIG)), root, work / 'demo', iters, amp=False,
                    substitutes=substitutes, val_interval=interval, tiny=tiny)
    cfg.train_dataloader.batch_size = 4  # the demo's own
    cfg.param_scheduler = [] if tiny else Config.fromfile(str(DEMO_CONFIG)).param_scheduler
    runner = Runner.from_cfg(cfg)
    timer = Timer(target_map=target_map)
    runner.register_hook(timer)
    runner.train()
    reached = next((e for e in timer.evals if e['bbox_mAP'] >= target_map), None)
    best = max((e['bbox_mAP'] for e in timer.evals), default=float('nan'))
    curve = ', '.join(f"{e['iter']}: {e['bbox_mAP']:.3f} at {e['seconds']:.0f} s"
                      for e in timer.evals)
    used = (describe(Counter(substitute_calls(runner))) if substitutes
            else "mmcv's own compiled ops")
    if reached is None and not tiny:
        raise AssertionError(f'bbox mAP {target_map} not reached in {iters} iterations '
                             f'(best {best:.3f}; {curve})')
    summary = (f"bbox mAP {reached['bbox_mAP']:.3f} >= {target_map} at iteration "
               f"{reached['iter']}, {reached['seconds']:.0f} s" if reached else
               f'--tiny: {iters} iterations, bbox mAP {best:.3f} (target {target_map} not '
               'expected)')
    return dict(summary=f'{summary}; {used}', evals=timer.evals, substitutes=substitutes,
                markdown=f'bbox mAP by iteration: {curve}. NMS and RoIAlign: {used}.')
