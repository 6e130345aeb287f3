"""``--prepare DIR`` on the CPU machine: the folder the GPU machine installs from.

The GPU machine (no package registry) has Python 3.12, torch 2.11, torchvision, numpy, opencv,
matplotlib, scipy, rich, pyyaml, ... (the device notes' package list) and lacks the OpenMMLab
stack: its wheels for CPython 3.12 manylinux x86_64, their small dependencies it lacks, and
mmcv 2.1.0's source release (built there, against its torch). No torch: it is there.

It needs nothing but pip: wheels are fetched as wheels (``--only-binary``, no build), and mmcv's
source release as a plain file from the index, checked against its pinned sha256. ``pip
download`` of an sdist would prepare its metadata, and mmcv's ``setup.py`` needs torch and
``pkg_resources`` for that (it failed so on a fresh machine, issue #25).
"""
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
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
DEFAULT_INDEX = 'https://pypi.org/simple'
PYTHON_VERSION = '3.12'
PLATFORMS = ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64', 'manylinux_2_24_x86_64',
             'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64']
LIMIT = 64 * MiB  # the whole working tree that travels, carried files included


def wheel_command(folder: Path) -> List[str]:
    return [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '-d', str(folder),
            '--only-binary=:all:', '--python-version', PYTHON_VERSION, '--implementation',
            'cp'] + [f'--platform={p}' for p in PLATFORMS] + WHEELS


def index_url() -> str:
    """pip's own index where one is set in the environment, else PyPI."""
    return os.environ.get('PIP_INDEX_URL', DEFAULT_INDEX).rstrip('/')


def sdist_url(index: str, project: str, filename: str) -> str:
    """The file's URL from the index's JSON simple page (PEP 691)."""
    request = urllib.request.Request(f'{index}/{project}/', headers={
        'Accept': 'application/vnd.pypi.simple.v1+json'})
    with urllib.request.urlopen(request, timeout=120) as response:
        files = json.load(response)['files']
    for entry in files:
        if entry['filename'] == filename:
            return urllib.request.urljoin(f'{index}/{project}/', entry['url'])
    raise SystemExit(f'[gpu_check] prepare: {filename} is not on {index}/{project}/')


def fetch_sdist(folder: Path, index: str = None) -> Path:
    """mmcv's source release as a file, refused unless its sha256 is the pinned one."""
    target = folder / MMCV_SDIST
    if target.is_file() and sha256(target) == MMCV_SHA256:
        return target
    url = sdist_url(index or index_url(), 'mmcv', MMCV_SDIST)
    with urllib.request.urlopen(url, timeout=300) as response:
        data = response.read()
    got = hashlib.sha256(data).hexdigest()
    if got != MMCV_SHA256:
        raise SystemExit(f'[gpu_check] prepare: {url} has sha256 {got}, expected {MMCV_SHA256}')
    partial = target.with_name(target.name + '.part')
    partial.write_bytes(data)
    partial.replace(target)
    return target


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
