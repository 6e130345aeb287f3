"""Fresh child processes for measurements that a process's history would skew.

On the CPU the children fork from a forkserver: a Python process has one, started with the
first preload list given, so every measurement that forks from it asks for the same list (the
modules the children run, imported once) and each child starts from the same heap. On any other
device they are spawned: a forked child of a process that initialised CUDA cannot use it
(``Cannot re-initialize CUDA in forked subprocess``, seen on the H200), and the forkserver
itself is a fork of the parent. Spawned children import what they run themselves.
"""
import multiprocessing

import torch

PRELOAD = ['cgd_cost.layer', 'cgd_cost.memory']


def start_method(device: str) -> str:
    """'forkserver' for the CPU, 'spawn' for every other device type."""
    return 'forkserver' if torch.device(device).type == 'cpu' else 'spawn'


def fresh_process_pool(device: str):
    """A one-worker pool whose worker is replaced after every task: ``pool.apply`` runs each
    call in a new child, started as ``start_method(device)`` says."""
    method = start_method(device)
    ctx = multiprocessing.get_context(method)
    if method == 'forkserver':
        ctx.set_forkserver_preload(PRELOAD)
    return ctx.Pool(1, maxtasksperchild=1)
