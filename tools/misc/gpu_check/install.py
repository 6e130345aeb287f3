"""What the check runs on: what already imports, and the rest from the carried folder (no
registry, nothing patched).

``probe`` asks a fresh interpreter which of the stack's modules it finds and whether mmcv's
compiled ops load (and run on CUDA). Only wheels of modules not found go to ``WORK/site``
(``pip install --no-index --no-deps --target``); mmcv, where its ops do not load, is built from
its source release in place (``setup.py build_ext --inplace``), in the background: with its CPU
ops only (CUDA hidden from the build, the fastest build that imports), and, opt-in, with its
CUDA ops for this GPU's architecture alone, in another folder. The Python path of a step names
the mmcv it runs, so a failed CUDA build leaves the rest standing.
"""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List, Optional

from .record import first_error_line

REPO = Path(__file__).resolve().parents[3]
CXX_WRAPPER = REPO / 'tools' / 'misc' / 'g++-std20'  # torch's headers need C++20
NVCC_WRAPPER = Path(__file__).resolve().parent / 'nvcc-std20'


# the carried wheels' distributions and the module that shows each is there
MODULES = {'mmengine': 'mmengine', 'mmdet': 'mmdet', 'pycocotools': 'pycocotools',
           'shapely': 'shapely', 'terminaltables': 'terminaltables', 'addict': 'addict',
           'yapf': 'yapf', 'platformdirs': 'platformdirs', 'termcolor': 'termcolor',
           'setuptools': 'pkg_resources'}
MMCV_VERSIONS = ('2.0.0', '2.2.0')  # what mmdet 3.3 accepts: at least the first, below the second
PROBE = r"""
import importlib, importlib.util, json, sys
modules = json.loads(sys.argv[1])
found = {m: importlib.util.find_spec(m) is not None for m in modules}
mmcv = dict(found=importlib.util.find_spec('mmcv') is not None, version=None, ops=False,
            cuda_ops=False, error='')
if mmcv['found']:
    try:
        import mmcv as m
        mmcv['version'] = m.__version__
        importlib.import_module('mmcv._ext')
        mmcv['ops'] = True
        import torch
        if torch.cuda.is_available():
            from mmcv.ops import nms
            box = torch.tensor([[0., 0., 1., 1.]], device='cuda')
            nms(box, torch.ones(1, device='cuda'), 0.5)
            mmcv['cuda_ops'] = True
    except Exception as error:
        mmcv['error'] = f'{type(error).__name__}: {str(error).splitlines()[0][:200]}'
print(json.dumps(dict(found=found, mmcv=mmcv)))
"""


def probe(env: Dict[str, str]) -> dict:
    """``{'found': {module: bool}, 'mmcv': {found, version, ops, cuda_ops, error}}`` in a
    fresh interpreter with ``env``."""
    out = subprocess.run([sys.executable, '-c', PROBE, json.dumps(sorted(set(MODULES.values())))],
                         env=env, capture_output=True, text=True, timeout=300)
    if out.returncode:
        raise RuntimeError(f'probing the stack failed: {first_error_line(out.stderr)}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def mmcv_usable(mmcv: dict) -> bool:
    """mmcv imports with its compiled ops, at a version mmdet 3.3 accepts."""
    if not (mmcv['found'] and mmcv['ops'] and mmcv['version']):
        return False
    version = tuple(int(p) for p in mmcv['version'].split('.')[:3] if p.isdigit())
    low, high = (tuple(map(int, v.split('.'))) for v in MMCV_VERSIONS)
    return low <= version < high


def missing_wheels(carried: Path, found: Dict[str, bool]) -> List[Path]:
    """The carried wheels whose module was not found."""
    return [w for w in sorted(carried.glob('*.whl'))
            if not found.get(MODULES.get(w.name.split('-')[0].lower(), ''), False)]


def python_path(work: Path, mmcv_tree: Optional[Path]) -> str:
    """A step's PYTHONPATH: carried wheels, its mmcv, this repo, the tools' packages."""
    parts = [work / 'site'] if (work / 'site').is_dir() else []
    parts += [mmcv_tree] if mmcv_tree else []
    parts += [REPO, REPO / 'tools' / 'misc', REPO / 'tools' / 'analysis_tools']
    old = os.environ.get('PYTHONPATH')
    return os.pathsep.join([str(p) for p in parts] + ([old] if old else []))


def install_wheels(wheels: List[Path], work: Path) -> None:
    cmd = [sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps',
           '--no-compile', '--no-cache-dir', '--upgrade', '--target', str(work / 'site'),
           *map(str, wheels)]
    run_logged(cmd, work / 'logs' / 'pip_install.log')


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
    """At low priority: the layer's steps time launch-bound GPU work meanwhile, and a host
    slow to launch would show in their times."""
    return ['nice', '-n', '10', sys.executable, 'setup.py', 'build_ext', '--inplace']


def start_mmcv_build(carried: Path, work: Path, cuda_arch: Optional[str], jobs: int):
    """mmcv with its CPU ops (``cuda_arch`` None) or its CUDA ops for ``cuda_arch`` only, in
    the background; returns (process, tree, log)."""
    kind = 'cuda' if cuda_arch else 'cpu'
    tree = unpack_mmcv(carried, work / f'mmcv_{kind}')
    log = work / 'logs' / f'mmcv_{kind}_build.log'
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'w') as f:
        proc = subprocess.Popen(build_command(tree), cwd=tree, env=build_env(work, cuda_arch, jobs),
                                stdout=f, stderr=subprocess.STDOUT)
    return proc, tree, log


def wait_mmcv_build(started, timeout: float) -> Path:
    """The built tree, once the background build has ended well."""
    proc, tree, log = started
    try:
        code = proc.wait(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise TimeoutError(f'mmcv build still running after {timeout:.0f} s more: killed '
                           f'({first_error_line(log.read_text(errors="replace"))})') from None
    if code:
        raise RuntimeError(first_error_line(log.read_text(errors='replace')))
    return tree


def run_logged(cmd, log: Path, **kwargs) -> None:
    """Run ``cmd`` with its output in ``log``; on failure raise with its first error line."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'w') as f:
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kwargs).returncode
    if code:
        raise RuntimeError(f'exit {code}: {first_error_line(log.read_text(errors="replace"))}')
