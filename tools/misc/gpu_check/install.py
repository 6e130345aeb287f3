"""Installing on the GPU machine from the carried folder: no registry, nothing patched.

Wheels go to ``WORK/site`` (``pip install --no-index --no-deps --target``); mmcv is built from
its source release in place (``setup.py build_ext --inplace``) twice, in two folders: with its
CPU ops only (tier 1: CUDA hidden from the build, the fastest build that imports) and with its
CUDA ops for this GPU's architecture alone (tier 2, started in the background). Each tier's
Python path names its own mmcv, so a failed CUDA build leaves tier 1 standing.
"""
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List, Optional

from .record import Skip, first_error_line

REPO = Path(__file__).resolve().parents[3]
CXX_WRAPPER = REPO / 'tools' / 'misc' / 'g++-std20'  # torch's headers need C++20
NVCC_WRAPPER = Path(__file__).resolve().parent / 'nvcc-std20'


def python_path(work: Path, mmcv_tree: Optional[Path]) -> str:
    """The tier's PYTHONPATH: carried wheels, its mmcv, this repo, the tools' packages."""
    parts = [work / 'site'] if (work / 'site').is_dir() else []
    parts += [mmcv_tree] if mmcv_tree else []
    parts += [REPO, REPO / 'tools' / 'misc', REPO / 'tools' / 'analysis_tools']
    old = os.environ.get('PYTHONPATH')
    return os.pathsep.join([str(p) for p in parts] + ([old] if old else []))


def install_wheels(carried: Path, work: Path) -> dict:
    wheels = sorted(carried.glob('*.whl'))
    if not wheels:
        raise FileNotFoundError(f'no wheels in {carried}: run --prepare {carried} on the CPU '
                                'machine and carry that folder')
    cmd = [sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps',
           '--no-compile', '--no-cache-dir', '--upgrade', '--target', str(work / 'site'),
           *map(str, wheels)]
    run_logged(cmd, work / 'logs' / 'pip_install.log')
    return dict(summary=f'{len(wheels)} wheels into {work / "site"}',
                wheels=[w.name for w in wheels])


def unpack_mmcv(carried: Path, dest: Path) -> Path:
    sdists = sorted(carried.glob('mmcv-*.tar.gz'))
    if not sdists:
        raise FileNotFoundError(f'no mmcv-*.tar.gz in {carried}')
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdists[0]) as tar:
        tar.extractall(dest, filter='data')
    return dest / sdists[0].name[:-len('.tar.gz')]


def build_env(work: Path, cuda_arch: Optional[str], jobs: int) -> Dict[str, str]:
    env = dict(os.environ, MMCV_WITH_OPS='1', MAX_JOBS=str(jobs), CXX=str(CXX_WRAPPER),
               PYTHONPATH=python_path(work, None))
    if cuda_arch:
        env.update(FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST=cuda_arch,
                   PYTORCH_NVCC=str(NVCC_WRAPPER))
    else:  # torch.cuda.is_available() decides mmcv's build: hide the GPU for a CPU-ops build
        env.update(CUDA_VISIBLE_DEVICES='', FORCE_CUDA='0')
    return env


def build_command(tree: Path) -> List[str]:
    return [sys.executable, 'setup.py', 'build_ext', '--inplace']


def build_mmcv(carried: Path, work: Path, jobs: int) -> dict:
    """mmcv with its CPU ops, in the foreground: tier 1 waits for it."""
    tree = unpack_mmcv(carried, work / 'mmcv_cpu')
    run_logged(build_command(tree), work / 'logs' / 'mmcv_cpu_build.log', cwd=tree,
               env=build_env(work, None, jobs))
    return dict(summary=f'mmcv CPU ops built in {tree} with {jobs} jobs', tree=str(tree))


def start_mmcv_cuda_build(carried: Path, work: Path, cuda_arch: str, jobs: int):
    """mmcv with its CUDA ops for ``cuda_arch`` only, in the background; returns the process."""
    tree = unpack_mmcv(carried, work / 'mmcv_cuda')
    log = work / 'logs' / 'mmcv_cuda_build.log'
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'w') as f:
        proc = subprocess.Popen(build_command(tree), cwd=tree, env=build_env(work, cuda_arch, jobs),
                                stdout=f, stderr=subprocess.STDOUT)
    return proc, tree, log


def wait_mmcv_cuda_build(started, timeout: float) -> dict:
    if started is None:
        raise Skip('the CUDA build was not started (see the steps before)')
    proc, tree, log = started
    try:
        code = proc.wait(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise TimeoutError(f'mmcv CUDA build still running after {timeout:.0f} s more: '
                           f'killed ({first_error_line(log.read_text(errors="replace"))})'
                           ) from None
    if code:
        raise RuntimeError(first_error_line(log.read_text(errors='replace')))
    return dict(summary=f'mmcv CUDA ops built in {tree}', tree=str(tree))


def run_logged(cmd, log: Path, **kwargs) -> None:
    """Run ``cmd`` with its output in ``log``; on failure raise with its first error line."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'w') as f:
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kwargs).returncode
    if code:
        raise RuntimeError(f'exit {code}: {first_error_line(log.read_text(errors="replace"))}')
