"""Builds the package's one compiled op (CGD's CPU pooling, ``mmdet_cgd/ops/csrc``)
where torch can be imported at build time: ``pip install --no-build-isolation -e .``.
Without torch there (pip's default build isolation), or with ``MMDET_CGD_WITH_OPS=0``, the
package installs without it and CGD pools with two PyTorch reductions instead (the same values
up to rounding, slower on CPU).

A built wheel carries ``configs/``, ``tools/``, ``model-index.yml`` and ``LICENSE`` under
``mmdet_cgd/.mim/``, as OpenMMLab packages do (mmdet's ``add_mim_extension``), so that
``Config.fromfile('mmdet_cgd::cgd/...')`` and ``mim train mmdet_cgd CONFIG`` work from an
installed package. They are copied into the build folder, never into the source tree.

An editable install (``pip install -e .``) has no package folder in site-packages, and mmengine
0.10.7 looks for ``.mim`` there, next to the distribution: ``site-packages/mmdet-cgd`` first, then
``site-packages/mmdet_cgd``. Its wheel carries ``mmdet-cgd/.mim/`` instead (a name no import can
take): a ``model-index.yml`` that imports the source tree's metafiles, and for each config a
one-line file that inherits the source tree's (``_base_ = '/abs/path'``), so an edited config
counts at once; a config added later needs the install run again.
"""
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:
    BuildExtension = None

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


cmdclass = {'build_py': BuildPyWithMim, 'editable_wheel': EditableWheelWithMim}
if os.environ.get('MMDET_CGD_WITH_OPS', '1') == '0':
    setup(cmdclass=cmdclass)
elif BuildExtension is None:
    print('[mmdet-cgd] torch is not importable at build time (pip build isolation?): building '
          'without the compiled CPU pooling op; to build it, install with --no-build-isolation',
          file=sys.stderr)
    setup(cmdclass=cmdclass)
else:
    openmp = ['-fopenmp'] if sys.platform.startswith('linux') else []  # at::parallel_for
    # named for the torch it is built against: environments with different torch releases can
    # share one source tree (an editable install in each), and each loads its own build
    major, minor = torch.__version__.split('.')[:2]
    setup(ext_modules=[CppExtension(f'mmdet_cgd.ops._ext_torch{major}_{minor}',
                                    ['mmdet_cgd/ops/csrc/sum_max_hw.cpp'],
                                    extra_compile_args=['-O3', '-g0', *openmp],
                                    extra_link_args=openmp)],
          cmdclass={**cmdclass, 'build_ext': BuildExtension})
