"""``--prepare DIR`` on the CPU machine: the folder the GPU machine installs from.

The GPU machine (no package registry) has Python 3.12, torch 2.11, torchvision, numpy, opencv,
matplotlib, scipy, rich, pyyaml, ... (the device notes' package list) and lacks the OpenMMLab
stack: its wheels for CPython 3.12 manylinux x86_64, their small dependencies it lacks, and
mmcv 2.1.0's source release (built there, against its torch). No torch: it is there.

It needs nothing but pip: wheels are fetched as wheels (``--only-binary``, no build), and mmcv's
source release by pip too, checked against its pinned sha256 (``fetch_sdist``).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

MiB = 2**20
WHEELS = [
    'mmengine==0.10.7', 'mmdet==3.3.0', 'pycocotools==2.0.11', 'shapely==2.2.0',
    'terminaltables==3.1.10', 'addict==2.4.0', 'yapf==0.43.0', 'platformdirs==4.14.8',
    'termcolor==3.3.0',
    'setuptools==80.10.2',  # mmcv's setup.py and mmengine's mmdet:: scope import pkg_resources
]
MMCV_SDIST = 'mmcv-2.1.0.tar.gz'
MMCV_SHA256 = 'd387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f'
PYTHON_VERSION = '3.12'
PLATFORMS = ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_24_x86_64',
             'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64']
LIMIT = 64 * MiB  # the whole working tree that travels, carried files included


def wheel_command(folder: Path) -> List[str]:
    return [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '-d', str(folder),
            '--only-binary=:all:', '--python-version', PYTHON_VERSION, '--implementation',
            'cp'] + [f'--platform={p}' for p in PLATFORMS] + WHEELS


def fetch_sdist(folder: Path) -> Path:
    """mmcv's source release through pip, refused unless its sha256 is the pinned one.

    ``pip download`` prepares an sdist's metadata by running its ``setup.py``, and mmcv's needs
    ``pkg_resources`` (setuptools < 81), which the newest setuptools of pip's build isolation
    lacks (it failed so on a fresh machine, issue #25). So setuptools < 81 goes into a scratch
    folder and pip runs ``setup.py`` without isolation, that folder on ``PYTHONPATH``; without
    torch mmcv's ``setup.py`` only skips its ops."""
    target = folder / MMCV_SDIST
    if target.is_file() and sha256(target) == MMCV_SHA256:
        return target
    with tempfile.TemporaryDirectory() as scratch:
        tools, download = Path(scratch) / 'build-tools', Path(scratch) / 'sdist'
        pip('install', '-q', '--target', str(tools), 'setuptools<81', 'wheel')
        pip('download', '-q', '--no-deps', '--no-binary', ':all:', '--no-build-isolation',
            '-d', str(download), 'mmcv==2.1.0', env=dict(os.environ, PYTHONPATH=str(tools)))
        got = sha256(download / MMCV_SDIST)
        if got != MMCV_SHA256:
            raise SystemExit(f'[gpu_check] prepare: pip gave {MMCV_SDIST} with sha256 {got}, '
                             f'expected {MMCV_SHA256}')
        shutil.move(str(download / MMCV_SDIST), str(target))
    return target


def pip(*args: str, env=None) -> None:
    cmd = [sys.executable, '-m', 'pip', *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f'[gpu_check] prepare: {" ".join(cmd[:5])} ... failed:\n'
                         f'{proc.stderr[-2000:]}')


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_bytes(repo: Path) -> int:
    """What travels besides the carried folder: files git tracks or does not ignore."""
    names = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                           cwd=repo, capture_output=True, check=True).stdout.split(b'\0')
    return sum((repo / n.decode()).stat().st_size for n in names
               if n and (repo / n.decode()).is_file())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob('*') if p.is_file())


def check_wheels_match(folder: Path) -> List[str]:
    """Wheels that CPython 3.12 on x86-64 Linux could not install (empty: all fit)."""
    bad = []
    for wheel in folder.glob('*.whl'):
        py, _abi, platform = wheel.name[:-4].split('-')[-3:]
        fits_py = any(t == 'cp312' or t.startswith('py3') for t in py.split('.'))
        fits_platform = platform == 'any' or 'x86_64' in platform
        if not (fits_py and fits_platform):
            bad.append(wheel.name)
    return bad


def prepare(folder: Path, repo: Path) -> dict:
    """Download into ``folder``; raise ``SystemExit`` with the sizes if it would not travel."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = wheel_command(folder)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f'[gpu_check] prepare: {" ".join(cmd[:4])} ... failed:\n'
                         f'{proc.stderr[-2000:]}')
    fetch_sdist(folder)
    bad = check_wheels_match(folder)
    if bad:
        raise SystemExit(f'[gpu_check] prepare: wheels not for CPython {PYTHON_VERSION} '
                         f'x86-64 Linux: {bad}')
    carried, tree = folder_bytes(folder), tree_bytes(repo)
    sizes = dict(carried_mib=round(carried / MiB, 2), tree_mib=round(tree / MiB, 2),
                 limit_mib=LIMIT // MiB, files=sorted(p.name for p in folder.iterdir()))
    if carried + tree > LIMIT:
        raise SystemExit(f'[gpu_check] prepare: {sizes["carried_mib"]} MiB carried + '
                         f'{sizes["tree_mib"]} MiB working tree > {LIMIT // MiB} MiB: it '
                         'would not travel')
    return sizes
