"""Running the tools as a user would: subprocesses from the repo root on a tiny dataset."""
import os
import socket
import subprocess
import sys
from pathlib import Path

from synthetic_coco import data_root_options

from mmdet_cgd.cli.test import read_test_metrics  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / 'configs' / 'demo' / 'mask-rcnn_r18-cgd_fpn_synthetic.py'

# single-process data loading and logging every iteration, for runs of a few iterations
FAST_LOADING = [
    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
    'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1']


def tiny_run_options(data_root: Path, max_iters: int = 4, ckpt_interval: int = 2):
    """--cfg-options that point the demo config at ``data_root`` and make it a few iterations."""
    return ['--cfg-options', *data_root_options(data_root), *FAST_LOADING,
            f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
            f'default_hooks.checkpoint.interval={ckpt_interval}',
            'default_hooks.checkpoint.max_keep_ckpts=-1', 'randomness.seed=0']


def run(args, timeout=600, env=None, check=True):
    """Run a command from the repo root; on failure show the end of its output."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', **(env or {}))
    proc = subprocess.run([str(a) for a in args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc


def python(*args, **kwargs):
    return run([sys.executable, *args], **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
