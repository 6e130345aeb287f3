"""Distributed runs on machines without CUDA (gloo), which mmengine 0.10.7 cannot start alone.

Its ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` unconditionally and its DDP wrapper
passes ``device_ids=[local_rank]``, which DDP refuses for CPU modules. Starting the gloo group
before the Runner is built, and a wrapper with ``device_ids=None``, avoid both.
"""
import datetime
import gc
import os

import torch
import torch.distributed as dist
from mmengine.config import Config

# A rank that dies must not leave the others waiting forever in a collective.
TIMEOUT_ENV, DEFAULT_TIMEOUT_S = 'MMDET_CGD_DIST_TIMEOUT_S', 600


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Start gloo and adapt ``cfg`` when launched by torchrun on a machine without CUDA.

    Returns whether it did anything; with CUDA, or without a launcher, it leaves ``cfg`` to
    mmengine.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not dist.is_initialized():
        timeout = int(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))  # read per run, not at import
        dist.init_process_group('gloo', timeout=datetime.timedelta(seconds=timeout))
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True


def end_distributed() -> None:
    """Destroy the process group and let gloo join its worker threads before interpreter exit.

    Call it once nothing else holds the group (drop the Runner first: its DDP wrapper does).
    ``destroy_process_group`` alone leaves the group alive wherever it is still referenced;
    gloo's worker threads then outlive the script, and one that drops a finished collective's
    tensors during finalization cannot take the GIL, is unwound by CPython and aborts the
    process ("terminate called without an active exception", SIGABRT) after a finished run.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    world = dist.group.WORLD
    dist.destroy_process_group()
    gc.collect()  # the Runner's cycles, which hold the DDP wrapper and its reducer
    del world  # the last reference: the group's destructor joins the threads, GIL released
