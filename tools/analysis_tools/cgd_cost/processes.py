"""Fresh child processes for measurements that a process's history would skew.

A Python process has one forkserver, started with the first preload list given, so every
measurement that forks from it asks for the same list: the modules the children run, imported
once. Each child then starts from the same heap.
"""
import multiprocessing

PRELOAD = ['cgd_cost.layer', 'cgd_cost.memory']


def fresh_process_pool():
    """A one-worker pool whose worker is replaced after every task: ``pool.apply`` runs each
    call in a new child forked from the forkserver."""
    ctx = multiprocessing.get_context('forkserver')
    ctx.set_forkserver_preload(PRELOAD)
    return ctx.Pool(1, maxtasksperchild=1)
