"""Builds the package's one compiled op (CGD's CPU pooling, ``mmdet_cgd/ops/csrc``)
where torch can be imported at build time: ``pip install --no-build-isolation -e .``.
Without torch there (pip's default build isolation), or with ``MMDET_CGD_WITH_OPS=0``, the
package installs without it and CGD pools with two PyTorch reductions instead (the same values
up to rounding, slower on CPU)."""
import os
import sys

from setuptools import setup

try:
    import torch
    from torch.utils.cpp_extension import BuildExtension, CppExtension
except ImportError:
    BuildExtension = None

if os.environ.get('MMDET_CGD_WITH_OPS', '1') == '0':
    setup()
elif BuildExtension is None:
    print('[mmdet-cgd] torch is not importable at build time (pip build isolation?): building '
          'without the compiled CPU pooling op; to build it, install with --no-build-isolation',
          file=sys.stderr)
    setup()
else:
    openmp = ['-fopenmp'] if sys.platform.startswith('linux') else []  # at::parallel_for
    # named for the torch it is built against: environments with different torch releases can
    # share one source tree (an editable install in each), and each loads its own build
    major, minor = torch.__version__.split('.')[:2]
    setup(ext_modules=[CppExtension(f'mmdet_cgd.ops._ext_torch{major}_{minor}',
                                    ['mmdet_cgd/ops/csrc/sum_max_hw.cpp'],
                                    extra_compile_args=['-O3', '-g0', *openmp],
                                    extra_link_args=openmp)],
          cmdclass={'build_ext': BuildExtension})
