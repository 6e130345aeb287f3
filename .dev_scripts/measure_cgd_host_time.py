"""Host time of CGD's Triton path, on the CPU: what a GPU would wait for besides the kernels.

Triton's compiler builds the real sm_90 kernels; a stand-in driver replaces only their launch
(the C launcher) with a no-op, so one call measures the Python and torch work around six
launches (training forward + backward) or three (inference), as on a GPU. The medians go
against #30's goals (<= 150 us and <= 60 us at (2, 256, 200, 304)). Also counted: the ATen
operators of one training step on the PyTorch path (goal <= 45), each a launch on a GPU.

    python .dev_scripts/measure_cgd_host_time.py [--calls 2000]
"""
import argparse
import os
import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

GOALS_US = {'training': 150, 'inference': 60}
SHAPES = ((2, 256, 200, 304), (2, 2048, 25, 38))


class NoLaunch:
    """Triton's launcher for a compiled kernel, launching nothing."""

    def __init__(self, src, metadata):
        pass

    def __call__(self, *args):
        pass


class StandInDriver:
    """Triton's CUDA driver as its JIT sees it, on a machine without one: an H100/H200
    target (sm_90), device 0 and its stream 0, kernels 'loaded' without a GPU."""
    launcher_cls = NoLaunch

    class utils:
        load_binary = staticmethod(lambda name, kernel, shared, device: (1, 1, 0, 0, 1024))
        unload_module = staticmethod(lambda module: None)
        get_device_properties = staticmethod(lambda device: {'max_shared_mem': 232448})

    def get_current_target(self):
        from triton.backends.compiler import GPUTarget
        return GPUTarget('cuda', 90, 32)

    get_current_device = staticmethod(lambda: 0)
    get_current_stream = staticmethod(lambda device: 0)


def use_stand_in_driver():
    """CPU tensors take the Triton path, compiled for sm_90 and launched by ``NoLaunch``."""
    from triton.runtime import driver

    from mmdet_cgd.ops import cgd_triton
    driver.set_active(StandInDriver())
    cgd_triton.TRITON_DEVICES = ('cuda', 'cpu')
    cgd_triton.FAILURES['cpu'] = None  # the probe kernel cannot write without a launch


def median_us(fn, calls: int) -> float:
    for _ in range(max(10, calls // 20)):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def host_times(shape, calls: int) -> dict:
    """Median microseconds of one training forward + backward and one inference call."""
    from mmdet_cgd.models.layers import CGD
    from mmdet_cgd.ops import cgd
    params = CGD(shape[1]).parameters_in_order()
    x, g = torch.empty(shape), torch.empty(shape)

    def training():
        cgd(x.detach().requires_grad_(), False, *params).backward(g)

    def inference():
        with torch.no_grad():
            cgd(x, True, *params)

    return dict(training=median_us(training, calls), inference=median_us(inference, calls))


class Operators(TorchDispatchMode):
    """Counts the ATen operators called, views apart (no kernel)."""
    count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += not func.is_view
        return func(*args, **(kwargs or {}))


def pytorch_path_operators(shape) -> int:
    """ATen operators of one training forward + backward on the PyTorch path (CGD's own)."""
    from mmdet_cgd.models.layers import CGD
    layer = CGD(shape[1], backend='pytorch')
    x = torch.randn(shape, requires_grad=True) * 1
    g = torch.ones_like(x)
    with Operators() as counted:
        layer(x).backward(g, inputs=list(layer.parameters()))
    return counted.count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--calls', type=int, default=2000, help='timed calls per median')
    args = parser.parse_args()
    # the compiler, not the interpreter (read when the kernels' module is first imported)
    os.environ.pop('TRITON_INTERPRET', None)
    print('PyTorch path, ATen operators per training step:',
          pytorch_path_operators((2, 64, 9, 13)), '(goal <= 45)')
    use_stand_in_driver()
    for shape in SHAPES:
        for kind, us in host_times(shape, args.calls).items():
            print(f'Triton path {shape} {kind}: {us:.1f} us host time per call '
                  f'({us / GOALS_US[kind]:.2f} x the goal of {GOALS_US[kind]} us)')


if __name__ == '__main__':
    main()
