"""A built wheel carries configs, tools and LICENSE under mmdet_cgd/.mim/, and they work from an
installed package outside the repository (issue #18, case 4)."""
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from tool_helpers import REPO

CONFIG = 'cgd/faster-rcnn_r50-cgd_fpn_1x_coco.py'
USE_IT = f"""
import os, sys
import mmdet_cgd
from mmengine.config import Config
from mmengine.hub import get_config
assert mmdet_cgd.__file__.startswith(sys.argv[1]), mmdet_cgd.__file__
cfg = Config.fromfile('mine.py')  # _base_ = 'mmdet_cgd::{CONFIG}'
assert cfg.model.backbone.plugins[0]['position'] == 'before_norm1'
assert get_config('mmdet_cgd::{CONFIG}').model.backbone.type == 'CGDResNet'
print('ok')
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


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp('wheel')
    source_copy(root / 'src')
    env = dict(os.environ, MMDET_CGD_WITH_OPS='0')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '-q', '-w', root / 'dist', '.'], cwd=root / 'src', env=env, check=True,
                   capture_output=True, timeout=300)
    wheel, = (root / 'dist').glob('mmdet_cgd-*.whl')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
                    root / 'site', wheel], check=True, capture_output=True, timeout=300)
    return wheel, root / 'site'


def test_the_wheel_carries_configs_tools_and_license(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (f'configs/{CONFIG}', 'configs/_base_/cgd_runtime.py', 'tools/train.py',
                 'tools/test.py', 'tools/dist_train.sh', 'model-index.yml', 'LICENSE'):
        assert f'mmdet_cgd/.mim/{name}' in names, name
    assert any(n.endswith('.dist-info/top_level.txt') for n in names)  # mim: module name
    license_text = zipfile.ZipFile(wheel).read('mmdet_cgd/.mim/LICENSE').decode()
    assert 'Apache License' in license_text and 'Version 2.0' in license_text


def test_configs_and_tools_work_from_the_installed_wheel_elsewhere(installed, tmp_path):
    _, site = installed
    (tmp_path / 'mine.py').write_text(f"_base_ = 'mmdet_cgd::{CONFIG}'\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run([sys.executable, '-c', USE_IT, str(site)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().endswith('ok'), proc.stderr[-3000:]
    # what `mim train mmdet_cgd CONFIG` runs: <installed package>/.mim/tools/train.py
    train = site / 'mmdet_cgd' / '.mim' / 'tools' / 'train.py'
    proc = subprocess.run([sys.executable, train, '--help'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and '--resume' in proc.stdout, proc.stderr[-3000:]
