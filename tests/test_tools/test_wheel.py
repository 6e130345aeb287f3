"""The package is pure Python: its wheel builds with pip's default build isolation (no torch, no
compiler, no --no-build-isolation) and is tagged py3-none-any. It carries configs, tools and
LICENSE under mmdet_cgd/.mim/ (no maintainer script), and they work from an installed package
outside the repository (issue #18, case 4), and every config builds from there through
`mmdet_cgd::`, also from an editable install (#26, case 2)."""
import os
import shutil
import subprocess
import sys
import warnings
import zipfile

import pytest
from tool_helpers import REPO

CONFIG = 'cgd/faster-rcnn_r50-cgd_fpn_1x_coco.py'
# Every shipped config, read through `mmdet_cgd::` (so mmengine scopes what it defines to
# mmdet_cgd) and built as the Runner builds it: in the config's default scope, visualizer first.
# Cheap: models on the meta device (every class and constructor, no weights), datasets with
# lazy_init (their classes and pipelines, no annotation file read).
BUILD_ALL = f"""
import sys
from pathlib import Path
import torch
import mmdet_cgd  # mmengine 0.10.7 reads `pkg::` only for the packages it knows: first
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import DATASETS, HOOKS, MODELS, VISUALIZERS, init_default_scope
assert mmdet_cgd.__file__.startswith(sys.argv[1]), mmdet_cgd.__file__
cfg = Config.fromfile('mine.py')  # _base_ = 'mmdet_cgd::{CONFIG}'
assert cfg.model.backbone.plugins[0]['position'] == 'before_norm1'
assert get_config('mmdet_cgd::{CONFIG}').model.backbone.type == 'CGDResNet'

def lazy(dataset):
    dataset = dict(dataset, lazy_init=True)
    if 'dataset' in dataset:
        dataset['dataset'] = lazy(dataset['dataset'])
    if 'datasets' in dataset:
        dataset['datasets'] = [lazy(d) for d in dataset['datasets']]
    return dataset

root = Path(mmdet_cgd.__file__).parent / '.mim' / 'configs'
names = sorted(p.relative_to(root).as_posix() for p in root.rglob('*.py')
               if '_base_' not in p.parts and p.parent.name != 'deploy')
for name in names:
    cfg = Config.fromstring(f"_base_ = 'mmdet_cgd::{{name}}'", '.py')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    VISUALIZERS.build(dict(cfg.visualizer, name=name))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    dataset = DATASETS.build(lazy(cfg.train_dataloader.dataset))
    hooks = [HOOKS.build(h) for h in [*cfg.default_hooks.values(), *cfg.get('custom_hooks', [])]
             if h is not None]
    print(name, type(model.backbone).__name__, type(dataset).__name__, len(hooks), flush=True)
print('built', len(names))
"""

def source_copy(dst):
    """The working tree as git sees it (tracked and unignored files): no build/ folder of ours
    in the repository."""
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split('\0')
    for name in filter(None, files):
        if (REPO / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dst / name)


# pip's words when its isolated build environment cannot reach the index for setuptools
NO_INDEX = ('Could not find a version that satisfies the requirement setuptools',
            'NewConnectionError', 'Temporary failure in name resolution')


def build_wheel(src, dist):
    """pip's default, isolated build (it fetches setuptools from the index), with no compiler.
    Without an index, the same build in this environment with torch made unimportable: what
    isolation proves, that the build needs neither torch nor a compiler, still holds."""
    no_compiler = dict(os.environ, CC='false', CXX='false')
    wheel = [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', dist, '.']
    proc = subprocess.run(wheel, cwd=src, env=no_compiler, capture_output=True, text=True,
                          timeout=300)
    why = [line for line in proc.stderr.splitlines() if any(w in line for w in NO_INDEX)]
    if proc.returncode and why:
        warnings.warn('no package index for the isolated build: built without isolation, '
                      f'torch hidden ({why[0].strip()})', stacklevel=1)
        hidden = dist.parent / 'no_torch' / 'torch'
        hidden.mkdir(parents=True)
        (hidden / '__init__.py').write_text("raise ImportError('the build must not need torch')\n")
        no_torch = dict(no_compiler, PYTHONPATH=str(hidden.parent))
        proc = subprocess.run([*wheel, '--no-build-isolation'], cwd=src, env=no_torch,
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel, = dist.glob('mmdet_cgd-*.whl')
    return wheel


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp('wheel')
    source_copy(root / 'src')
    wheel = build_wheel(root / 'src', root / 'dist')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
                    root / 'site', wheel], check=True, capture_output=True, timeout=300)
    return wheel, root / 'site'


def test_the_wheel_is_pure_python(installed):
    wheel, _ = installed
    assert wheel.name.endswith('-py3-none-any.whl'), wheel.name
    archive = zipfile.ZipFile(wheel)
    metadata, = (n for n in archive.namelist() if n.endswith('.dist-info/WHEEL'))
    assert 'Root-Is-Purelib: true' in archive.read(metadata).decode()
    compiled = [n for n in archive.namelist()
                if n.endswith(('.so', '.pyd', '.dll', '.dylib', '.cpp', '.cu'))]
    assert compiled == []


def test_the_wheel_carries_configs_tools_and_license_but_no_maintainer_script(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if '.dev_scripts' in n or 'gpu_check' in n]
    for name in (f'configs/{CONFIG}', 'configs/_base_/cgd_runtime.py', 'tools/train.py',
                 'tools/test.py', 'tools/dist_train.sh', 'model-index.yml', 'LICENSE'):
        assert f'mmdet_cgd/.mim/{name}' in names, name
    assert any(n.endswith('.dist-info/top_level.txt') for n in names)  # mim: module name
    license_text = zipfile.ZipFile(wheel).read('mmdet_cgd/.mim/LICENSE').decode()
    assert 'Apache License' in license_text and 'Version 2.0' in license_text


def test_every_shipped_config_builds_from_the_installed_wheel_elsewhere(installed, tmp_path):
    """Model, dataset and hooks of each config, through `mmdet_cgd::`: mmdet's types (SSD's
    NumClassCheckHook, datasets, transforms) and mmpretrain's resolve from our scope (#26)."""
    _, site = installed
    (tmp_path / 'mine.py').write_text(f"_base_ = 'mmdet_cgd::{CONFIG}'\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, '-c', BUILD_ALL, str(site)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    shipped = [p for p in (REPO / 'configs').rglob('*.py')
               if '_base_' not in p.parts and p.parent.name != 'deploy']
    assert proc.stdout.strip().endswith(f'built {len(shipped)}'), (proc.stdout[-2000:],
                                                                  proc.stderr[-3000:])
    assert 'ssd300_mobilenet-cgd_coco.py CGDMobileNet RepeatDataset' in proc.stdout
    assert 'mobilenet-cgd_8xb32_in1k.py CGDMobileNet ImageNet' in proc.stdout


def test_the_wheels_train_tool_runs_elsewhere(installed, tmp_path):
    """What `mim train mmdet_cgd CONFIG` runs: <installed package>/.mim/tools/train.py."""
    _, site = installed
    env = dict(os.environ, PYTHONPATH=str(site))
    train = site / 'mmdet_cgd' / '.mim' / 'tools' / 'train.py'
    proc = subprocess.run([sys.executable, train, '--help'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and '--resume' in proc.stdout, proc.stderr[-3000:]


@pytest.fixture(scope='module')
def editable(tmp_path_factory):
    """The wheel `pip install -e .` installs (setuptools' PEP 660 hook, as setup_env.sh runs it)
    for a copy of the source tree, installed into a folder."""
    root = tmp_path_factory.mktemp('editable')
    source_copy(root / 'src')
    build = 'import sys; from setuptools import build_meta; build_meta.build_editable(sys.argv[1])'
    subprocess.run([sys.executable, '-c', build, root / 'dist'], cwd=root / 'src',
                   check=True, capture_output=True, timeout=300)
    wheel, = (root / 'dist').glob('mmdet_cgd-*.whl')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
                    root / 'site', wheel], check=True, capture_output=True, timeout=300)
    return root / 'src', root / 'site'


def test_an_editable_install_reads_the_source_trees_configs(editable, tmp_path):
    """mmengine looks for `.mim` beside the distribution, where an editable install has no
    package: its wheel's `mmdet-cgd/.mim` stands for it, and a config edited after the install
    counts at once (#26)."""
    src, site = editable
    with open(src / 'configs' / 'cgd' / 'ssd300_mobilenet_coco.py', 'a') as f:
        f.write('edited_after_install = True\n')
    (tmp_path / 'mine.py').write_text("_base_ = 'mmdet_cgd::cgd/ssd300_mobilenet-cgd_coco.py'\n")
    script = '\n'.join([
        'import mmdet_cgd',
        'from mmengine.config import Config',
        'from mmengine.hub import get_config',
        "cfg = Config.fromfile('mine.py')",
        "assert cfg.edited_after_install and cfg.model.backbone.type == 'CGDMobileNet'",
        f"assert get_config('mmdet_cgd::{CONFIG}').model.backbone.type == 'CGDResNet'",
        "print('ok')"])
    proc = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, capture_output=True,
                          env=dict(os.environ, PYTHONPATH=str(site)), text=True, timeout=300)
    assert proc.stdout.strip().endswith('ok'), proc.stderr[-3000:]
