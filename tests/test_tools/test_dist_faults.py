"""In a 2-process gloo run, one process dying ends the job non-zero in bounded time."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tool_helpers import DEMO_CONFIG, REPO, free_port, tiny_run_options

from mmdet_cgd.checkpoint import find_resume_checkpoint, load_checkpoint_file

BOUND_S = 120


def children(pid: int):
    found = []
    for task in Path(f'/proc/{pid}/task').iterdir():
        text = (task / 'children').read_text().split()
        found += [int(p) for p in text]
    return found


def test_a_dead_rank_ends_the_job_and_leaves_usable_checkpoints(tiny_coco, tmp_path):
    env = dict(os.environ, PORT=str(free_port()), PYTHON=sys.executable, OMP_NUM_THREADS='1')
    job = subprocess.Popen(
        ['bash', 'tools/dist_train.sh', str(DEMO_CONFIG), '2', '--work-dir', str(tmp_path),
         *tiny_run_options(tiny_coco, max_iters=1000)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (tmp_path / 'iter_2.pth').is_file() or not (tmp_path / 'last_checkpoint').is_file():
        assert job.poll() is None and time.time() < deadline
        time.sleep(0.05)
    workers = children(job.pid)  # dist_train.sh execs torchrun, whose children are the ranks
    assert len(workers) == 2, workers
    os.kill(workers[1], signal.SIGKILL)
    killed_at = time.time()
    try:
        returncode = job.wait(timeout=BOUND_S)
    finally:
        if job.poll() is None:
            job.kill()
            for pid in workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert returncode != 0
    assert time.time() - killed_at < BOUND_S
    resume_from = find_resume_checkpoint(tmp_path)
    assert resume_from is not None
    assert 'state_dict' in load_checkpoint_file(resume_from)
