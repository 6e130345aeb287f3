"""A pure-Python package: ``pip install .`` and its wheel (``py3-none-any``) need no compiler, no
torch at build time and no ``--no-build-isolation``.

A built wheel carries ``MIM_FILES`` (``configs/``, ``tools/``, ``model-index.yml``, ``LICENSE``)
under ``mmdet_cgd/.mim/``, as OpenMMLab packages do (mmdet's ``add_mim_extension``), so that
``Config.fromfile('mmdet_cgd::cgd/...')`` and ``mim train mmdet_cgd CONFIG`` work from an
installed package. They are copied into the build folder, never into the source tree. What only
our maintainers run lives in ``.dev_scripts/`` and is not shipped.

An editable install (``pip install -e .``) has no package folder in site-packages, and mmengine
0.10.7 looks for ``.mim`` there, next to the distribution: ``site-packages/mmdet-cgd`` first, then
``site-packages/mmdet_cgd``. Its wheel carries ``mmdet-cgd/.mim/`` instead (a name no import can
take): a ``model-index.yml`` that imports the source tree's metafiles, and for each config a
one-line file that inherits the source tree's (``_base_ = '/abs/path'``), so an edited config
counts at once; a config added later needs the install run again.
"""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml', 'LICENSE')


class BuildPyWithMim(build_py):
    """``build_py`` that also copies ``MIM_FILES`` into ``<build>/mmdet_cgd/.mim/``."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return  # an editable install reads the source tree
        mim = os.path.join(self.build_lib, 'mmdet_cgd', '.mim')
        for name in MIM_FILES:
            src, dst = os.path.join(HERE, name), os.path.join(mim, name)
            if os.path.isdir(src):
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            elif os.path.isfile(src):
                os.makedirs(mim, exist_ok=True)
                shutil.copyfile(src, dst)


def editable_mim_files():
    """(name in the wheel, text) of the ``mmdet-cgd/.mim/`` an editable install carries."""
    index = []
    for line in open(os.path.join(HERE, 'model-index.yml')).read().splitlines():
        item, _, path = line.partition('- ')
        index.append(f'{item}- {os.path.join(HERE, path.strip())}' if path.strip() else line)
    yield 'mmdet-cgd/.mim/model-index.yml', '\n'.join(index) + '\n'
    configs = os.path.join(HERE, 'configs')
    for folder, _, names in sorted(os.walk(configs)):
        for name in sorted(n for n in names if n.endswith('.py')):
            source = os.path.join(folder, name)
            relative = os.path.relpath(source, configs).replace(os.sep, '/')
            yield f'mmdet-cgd/.mim/configs/{relative}', f'_base_ = {source!r}\n'


class WithEditableMim:
    """Wraps setuptools' editable strategy (what links the wheel to the source tree) and adds
    ``editable_mim_files`` to the wheel."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self.strategy.__exit__(*exc_info)

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        for name, text in editable_mim_files():
            wheel.writestr(name, text.encode())


class EditableWheelWithMim(editable_wheel):
    """``editable_wheel`` whose wheel also carries ``mmdet-cgd/.mim/``. setuptools picks the
    strategy in ``_select_strategy``; the build-system pins setuptools (77 to 80)."""

    def _select_strategy(self, name, tag, build_lib):
        return WithEditableMim(super()._select_strategy(name, tag, build_lib))


setup(cmdclass={'build_py': BuildPyWithMim, 'editable_wheel': EditableWheelWithMim})
