"""A run killed with SIGKILL mid-run and resumed ends exactly where an uninterrupted one does."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tool_helpers import DEMO_CONFIG, REPO, python, tiny_run_options

MAX_ITERS = 6
DETERMINISTIC = ['randomness.deterministic=True']


def final_val_metrics(log: str) -> str:
    lines = [line for line in log.splitlines() if 'coco/bbox_mAP:' in line]
    assert lines, 'no validation metrics in the log'
    return lines[-1].split('coco/bbox_mAP:', 1)[1].split('data_time')[0].strip()


@pytest.fixture(scope='module')
def uninterrupted(tiny_coco, tmp_path_factory):
    work = tmp_path_factory.mktemp('uninterrupted')
    options = [o for o in tiny_run_options(tiny_coco, max_iters=MAX_ITERS)
               if not o.startswith('randomness.seed=')]
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', work, *options, *DETERMINISTIC)
    return work, proc.stdout + proc.stderr


def test_sigkill_then_resume_equals_the_uninterrupted_run(uninterrupted, tiny_coco, tmp_path):
    # the demo config's own seed: no randomness.seed option (issue #18, case 3)
    options = [o for o in tiny_run_options(tiny_coco, max_iters=MAX_ITERS)
               if not o.startswith('randomness.seed=')] + DETERMINISTIC
    cmd = [sys.executable, 'tools/train.py', str(DEMO_CONFIG), '--work-dir', str(tmp_path),
           *options]
    child = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, OMP_NUM_THREADS='1'))
    pointer = tmp_path / 'last_checkpoint'
    deadline = time.time() + 300
    while not (pointer.is_file() and pointer.read_text().strip().endswith('iter_2.pth')):
        assert child.poll() is None and time.time() < deadline, 'run ended before the kill'
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)  # mid-run: iterations 3..6 still to go
    child.wait()
    assert not (tmp_path / f'iter_{MAX_ITERS}.pth').exists()

    resumed = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path, '--resume',
                     *options)
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 0, iter: 2' in log or 'resumed epoch: 0, iter: 4' in log

    work, reference_log = uninterrupted
    final = f'iter_{MAX_ITERS}.pth'
    ours = torch.load(tmp_path / final, weights_only=True)['state_dict']
    theirs = torch.load(work / final, weights_only=True)['state_dict']
    assert ours.keys() == theirs.keys()
    different = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'
    assert final_val_metrics(log) == final_val_metrics(reference_log)
