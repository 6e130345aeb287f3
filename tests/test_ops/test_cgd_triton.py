"""CGD's Triton path (``ops.cgd_triton``) on every device the ``device`` fixture gives: real
kernels on CUDA, the same kernels run by Triton's interpreter on CPU tensors
(``TRITON_INTERPRET=1``, set in conftest). Against the float64 reference at the edges of their
tiling; what one training step launches; the cases that once went silently wrong; meta and
fake tensors; torch.compile; and, in a process of its own, the sm_90 machine code of exactly
what the launches run.

Where this torch cannot run the path (no ``torch.library.triton_op`` before torch 2.6, or no
Triton) the tests that need it are skipped with that reason, and the fallback is tested."""
import copy
import os
import subprocess
import sys
import warnings

import pytest
import torch
from layer_helpers import randomized, step
from torch.utils._python_dispatch import TorchDispatchMode

from mmdet_cgd.models import CGDResNet
from mmdet_cgd.models.layers import CGD
from mmdet_cgd.ops import cgd, cgd_triton
from mmdet_cgd.utils.errors import CGDConfigError

UNAVAILABLE = cgd_triton.triton_unavailable_reason()
needs_triton = pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))
LAYOUTS = {
    'contiguous': lambda x: x,
    'channels_last': lambda x: x.contiguous(memory_format=torch.channels_last),
}
# What the float16 / bfloat16 layer may differ from float64 by, relative to the largest value
# (as measured for the PyTorch path on an H200)
TOLERANCE = {torch.float32: 2e-6, torch.float16: 1.5e-3, torch.bfloat16: 1.1e-2}
TOOL = os.path.join(os.path.dirname(__file__), '..', '..', '.dev_scripts',
                    'measure_cgd_host_time.py')


@pytest.fixture
def on(triton_on):
    """The Triton path on ``device``, or a skip that says why it cannot run there."""
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    if triton_on == 'cpu' and 'cpu' not in cgd_triton.TRITON_DEVICES:
        pytest.skip('TRITON_INTERPRET=1 was not set before Triton was imported')
    return triton_on


def trained_like(c, dtype=torch.float64, seed=0, device='cpu'):
    return randomized(c, seed, dtype).to(device)


def reference(layer, x, weights):
    """``step`` on the plain path in float64."""
    return step(copy.deepcopy(layer).double(), x.double(), weights.double(), plain=True)


def relative_error(got, want):
    return ((got.double() - want).abs().max() / want.abs().max()).item()


def test_the_path_taken_on_cuda_is_stated():
    """Both ways: the Triton path where torch and Triton allow it, otherwise a reason, and then
    every tensor takes the PyTorch path."""
    if UNAVAILABLE is None:
        assert cgd_triton.OPS_REGISTERED
        assert hasattr(torch.ops.mmdet_cgd, 'cgd_forward')
    else:
        assert not cgd_triton.OPS_REGISTERED
        assert 'PyTorch path' in UNAVAILABLE
        x = torch.empty(1, 2, 3, 3, device='meta')
        assert not cgd_triton.applies(x)


SHAPES = {
    'odd': (2, 5, 3, 7),
    'one_position': (2, 3, 1, 1),
    'single_channel': (3, 1, 9, 11),
    'splits_with_a_partial_block': (2, 3, 40, 51),  # 2040 positions: 2 blocks, the last partial
    'one_row': (1, 4, 1, 33),
}


@pytest.mark.parametrize('layout', list(LAYOUTS))
@pytest.mark.parametrize('inplace', [False, True])
@pytest.mark.parametrize('shape', list(SHAPES))
def test_triton_path_matches_the_plain_path_in_float64(on, shape, inplace, layout):
    layer = trained_like(SHAPES[shape][1], device=on)
    layer.inplace = inplace
    x = LAYOUTS[layout](torch.randn(SHAPES[shape], dtype=torch.float64, device=on) * 2)
    weights = torch.randn_like(x)
    assert cgd_triton.applies(x)
    expected = reference(layer, x, weights)
    got = step(layer, x, weights)
    assert got[1].stride() == x.stride()  # the gradient in the input's layout
    for g, w in zip(got, expected):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('inplace', [False, True])
@pytest.mark.parametrize('dtype', list(TOLERANCE))
def test_narrow_dtypes_are_as_accurate_as_the_pytorch_path(on, dtype, inplace):
    """float32 parameters (as under AMP), the activation in ``dtype``: value and input gradient
    within the dtype's tolerance of float64; the parameter gradients, some ill-conditioned in
    narrow dtypes (sums of terms that cancel), within twice the PyTorch path's error or five
    times the dtype's tolerance."""
    layer = trained_like(8, torch.float32, seed=3, device=on)
    layer.inplace = inplace
    x = (torch.randn(2, 8, 10, 12, device=on) * 2).to(dtype)
    flat = x.view(2, 8, 120)  # one clear max per channel: rounding to ``dtype`` makes ties,
    flat.scatter_add_(2, flat.argmax(2, keepdim=True), torch.ones_like(flat[:, :, :1]))
    weights = torch.randn_like(x)  # where the reference's amax would split the gradient
    expected = reference(layer, x, weights)  # the same (rounded) inputs, in float64
    got = step(layer, x, weights)
    assert got[0].dtype == got[1].dtype == dtype
    assert all(g.dtype == torch.float32 for g in got[2:])
    for g, w in zip(got[:2], expected[:2]):
        assert relative_error(g, w) <= TOLERANCE[dtype]
    layer.backend = 'pytorch'
    baseline = step(layer, x, weights)
    for g, b, w in zip(got[2:], baseline[2:], expected[2:]):
        assert relative_error(g, w) <= max(2 * relative_error(b, w), 5 * TOLERANCE[dtype])


def test_a_wide_batch_of_wide_layers(on):
    """N x C = 16 x 4096: the per-sample kernels hold 4096 channels in one block, one program
    per sample, and the parameter gradients sum 16 samples' shares."""
    layer = trained_like(4096, torch.float32, device=on)
    x = torch.randn(16, 4096, 1, 2, device=on)
    weights = torch.randn_like(x)
    expected = reference(layer, x, weights)
    for g, w in zip(step(layer, x, weights), expected):
        assert relative_error(g, w) <= 1e-5


def test_a_million_positions(on, monkeypatch):
    """2^20 positions in one channel, split into ranges combined in order (few programs of
    many blocks each: the interpreter's cost is per block)."""
    monkeypatch.setattr(cgd_triton, 'TARGET_PROGRAMS', 4)
    cgd_triton.forward_plan.cache_clear()  # plans made under the usual target
    layer = trained_like(1, device=on)
    x = torch.randn(1, 1, 1024, 1024, dtype=torch.float64, device=on)
    x[0, 0, 700, 3] = 9.0  # the max, in the last range
    assert cgd_triton.tiling(1, 1, 2**20, True)[2:] == (4, 2**18)
    y, att, mean, peak, position = torch.ops.mmdet_cgd.cgd_forward(x, *layer.parameters_in_order())
    assert position.item() == 700 * 1024 + 3 and peak.item() == 9.0
    torch.testing.assert_close(mean, x.mean((2, 3)), rtol=1e-12, atol=1e-15)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), layer.forward_plain(x), rtol=1e-12, atol=1e-12)
    cgd_triton.forward_plan.cache_clear()


@pytest.mark.parametrize('layout', list(LAYOUTS))
def test_tied_maxima_give_the_gradient_to_the_first_position(on, layout):
    """As torch.argmax: ties within a block and across splits go to the first position."""
    x = torch.zeros(2, 3, 40, 51, dtype=torch.float64, device=on)
    x[:, :, 0, 5] = x[:, :, 0, 9] = x[:, :, 39, 50] = 3.0  # tied in the first and last block
    x = LAYOUTS[layout](x)
    layer = trained_like(3, device=on)
    position = torch.ops.mmdet_cgd.cgd_forward(x, *layer.parameters_in_order())[4]
    assert (position.long() == x.flatten(2).argmax(2)).all() and (position == 5).all()
    gx = step(layer, x, torch.ones_like(x))[1]
    mean_share = gx[:, :, 1, 0]
    assert (gx[:, :, 0, 5] != mean_share).all()
    torch.testing.assert_close(gx[:, :, 0, 9], mean_share, rtol=0, atol=1e-15)
    torch.testing.assert_close(gx[:, :, 39, 50], mean_share, rtol=0, atol=1e-15)


def test_nan_and_infinity_break_only_their_sample_as_the_pytorch_path_does(on):
    x = torch.randn(4, 3, 40, 51, dtype=torch.float64, device=on)
    x[0, 1, 20, 30] = float('nan')
    x[1, 2, 0, 7] = x[1, 2, 39, 2] = float('nan')
    x[2, 0, 5, 5] = float('inf')
    layer = trained_like(3, device=on)
    y, att, mean, peak, position = torch.ops.mmdet_cgd.cgd_forward(x, *layer.parameters_in_order())
    values, indices = x.flatten(2).max(2)  # torch.max: a NaN is the max, the first one
    assert (position.long() == indices).all()
    torch.testing.assert_close(peak, values, equal_nan=True)
    y = layer(x)
    assert torch.isnan(y[:3]).all() and torch.isfinite(y[3]).all()
    torch.testing.assert_close(y, layer.forward_plain(x), rtol=1e-12, atol=1e-12, equal_nan=True)


def test_in_place_after_an_op_that_keeps_its_output_is_refused(on):
    layer = CGD(4, inplace=True).to(on)
    x = torch.randn(1, 4, 5, 5, requires_grad=True, device=on)
    with pytest.raises(CGDConfigError, match='keeps it for backward'):
        layer(torch.relu(x))


def launched_kernels(monkeypatch):
    """The names of the kernels launched from now on, in order."""
    names, eager = [], cgd_triton.Launch.eager

    def recording(launch, *args):
        names.append(launch.kernel.fn.__name__)
        return eager(launch, *args)

    monkeypatch.setattr(cgd_triton.Launch, 'eager', recording)
    return names


def test_inference_scales_in_place_under_no_grad_in_three_launches(on, monkeypatch):
    launched = launched_kernels(monkeypatch)
    layer = trained_like(4, torch.float32, device=on)
    x = torch.randn(2, 4, 6, 7, device=on)
    expected = layer.forward_plain(x.clone())
    layer.inplace = True
    with torch.no_grad():
        y = layer(x)
    assert y.data_ptr() == x.data_ptr()
    assert launched == ['pool_kernel', 'attention_kernel', 'scale_kernel']
    assert relative_error(y, expected.double()) <= 1e-6


def test_results_are_deterministic(on):
    """Parameter gradients summed over 5 samples' shares in a fixed order: bit for bit."""
    layer = trained_like(5, torch.float32, device=on)
    x = torch.randn(5, 5, 40, 51, device=on)
    weights = torch.randn_like(x)
    first, second = step(layer, x, weights), step(layer, x, weights)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


class OpsBetweenLaunches(TorchDispatchMode):
    """Every operator called outside the kernel launches (the interpreter's own copies apart),
    without what runs inside one; views apart (no kernel)."""

    def __init__(self, monkeypatch):
        super().__init__()
        self.ops, self.in_launch, eager = [], False, cgd_triton.Launch.eager

        def launching(launch, *args):
            self.in_launch = True
            eager(launch, *args)
            self.in_launch = False

        monkeypatch.setattr(cgd_triton.Launch, 'eager', launching)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not self.in_launch and not func.is_view:
            self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('inplace', [False, True])
def test_a_training_step_launches_six_kernels_and_only_allocates_besides(on, monkeypatch,
                                                                         inplace):
    """In eager mode the op bodies run directly: six launches, and no operator but
    allocations (each a launch on a GPU) between them."""
    launched = launched_kernels(monkeypatch)
    layer = trained_like(6, torch.float32, device=on)
    layer.inplace = inplace
    x = torch.randn(2, 6, 9, 13, device=on, requires_grad=True) * 1
    g = torch.randn(2, 6, 9, 13, device=on)
    layer(x.detach().clone())  # the device's probe, once
    launched.clear()
    with OpsBetweenLaunches(monkeypatch) as counted:
        layer(x).backward(g, inputs=list(layer.parameters()))
    assert launched == ['pool_kernel', 'attention_kernel', 'scale_kernel', 'product_sum_kernel',
                        'attention_backward_kernel', 'input_gradient_kernel']
    assert set(counted.ops) <= {'aten.empty', 'aten.new_empty', 'aten.empty_like'}, counted.ops


def test_overlapping_memory_is_scaled_out_of_place(on):
    """#30: an expanded input (one address for several elements) was scaled in place by several
    programs: wrong by up to 8.6. Now out of place, as torch's own ``mul_`` would refuse."""
    layer = trained_like(4, device=on)
    layer.inplace = True
    base = torch.randn(1, 4, 6, 5, dtype=torch.float64, device=on)
    x = base.expand(3, 4, 6, 5)
    assert cgd_triton.overlaps(x) and not cgd_triton.overlaps(base)
    with torch.no_grad():
        y = layer(x)
    torch.testing.assert_close(y, layer.forward_plain(base.expand(3, 4, 6, 5).clone()))
    assert torch.equal(base, base.clone()) and y.data_ptr() != x.data_ptr()
    leaf = base.clone().requires_grad_()
    weights = torch.randn(3, 4, 6, 5, dtype=torch.float64, device=on)
    (layer(leaf.expand(3, 4, 6, 5)) * weights).sum().backward()
    expected = leaf.detach().clone().requires_grad_()
    (layer.forward_plain(expected.expand(3, 4, 6, 5)) * weights).sum().backward()
    torch.testing.assert_close(leaf.grad, expected.grad, rtol=1e-12, atol=1e-12)


def test_parameters_of_any_strides(on):
    """#30: parameters were read as contiguous (``w0_ptr + c``): a (C, 1) view with stride
    (2, 1) gave an error of 0.096, silently. Now read through their channel strides."""
    c = 6
    layer = trained_like(c, device=on)
    x = torch.randn(2, c, 5, 7, dtype=torch.float64, device=on)
    weights = torch.randn_like(x)
    results = []
    for backend in ('auto', 'pytorch'):
        # every other element of a (C, 2) tensor: w (C, 1) with strides (2, 1), biases
        # (1, C, 1, 1) with channel stride 2
        bases = [torch.stack([p.detach().reshape(c)] * 2, 1).requires_grad_()
                 for p in layer.parameters_in_order()]
        params = [b[:, :1] if i < 3 else b[:, 0].view(1, c, 1, 1) for i, b in enumerate(bases)]
        assert params[0].stride() == (2, 1) and params[3].stride(1) == 2
        y = cgd(x, False, *params, backend=backend)
        (y * weights).sum().backward()
        results.append([y.detach(), *(b.grad for b in bases)])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_every_launch_runs_under_the_tensors_device_guard(on, monkeypatch):
    """#30: the kernels launched on the current device and its stream, so a model on cuda:1
    ran on GPU 0 with GPU 1's pointers. Now each op body enters the tensor's device guard
    (``torch.cuda.device``: its device and so its current stream) around its launches."""
    assert cgd_triton.DEVICE_GUARDS['cuda'] is torch.cuda.device
    entered, inside = [], []

    class Recording:
        def __init__(self, device):
            self.device = device

        def __enter__(self):
            entered.append(self.device)
            inside.append(True)

        def __exit__(self, *exc):
            inside.pop()

    launches, eager = [], cgd_triton.Launch.eager
    monkeypatch.setitem(cgd_triton.DEVICE_GUARDS, torch.device(on).type, Recording)
    monkeypatch.setattr(cgd_triton.Launch, 'eager',
                        lambda launch, *args: launches.append(bool(inside))
                        or eager(launch, *args))
    layer = trained_like(3, device=on)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=on, requires_grad=True)
    layer(x).sum().backward()
    with torch.no_grad():
        layer(x)
    assert launches == [True] * 9
    assert entered and all(d == x.device for d in entered)


def test_a_triton_that_cannot_run_falls_back_once_with_the_reason(on, monkeypatch):
    """#30: Triton installed but unable to run (no driver, an unsupported GPU) failed at the
    first launch. Now a probe finds it once per device: one warning with the reason, and the
    PyTorch path there."""

    class Broken:
        class probe_kernel:
            def __class_getitem__(cls, grid):
                raise RuntimeError('0 active drivers (simulated)')

    key = str(torch.device(on))
    monkeypatch.delitem(cgd_triton.FAILURES, key, raising=False)
    monkeypatch.setattr(cgd_triton, 'kernels', lambda: Broken)
    layer = trained_like(3, device=on)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=on)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert not cgd_triton.applies(x)
        y = layer(x)
        assert not cgd_triton.applies(x)
    messages = [str(w.message) for w in caught if 'Triton cannot run' in str(w.message)]
    assert len(messages) == 1 and '0 active drivers (simulated)' in messages[0]
    assert 'PyTorch path' in messages[0]
    torch.testing.assert_close(y, layer.forward_plain(x))


def test_meta_and_fake_tensors_get_shapes_without_kernels(on):
    """The ops' fake implementations: shapes, dtypes and layouts, no kernel, no data."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    for dtype in (torch.float16, torch.float32):
        for inplace in (False, True):
            with FakeTensorMode():
                x = torch.empty(2, 8, 20, 24, dtype=dtype, device=on).requires_grad_()
                params = [torch.empty(8, 1, device=on).requires_grad_() for _ in range(3)] + \
                    [torch.empty(1, 8, 1, 1, device=on).requires_grad_() for _ in range(3)]
                assert cgd_triton.applies(x)
                y = cgd(x * 1, inplace, *params)
                y.backward(torch.empty_like(y))
            assert y.shape == x.shape and y.dtype == dtype and x.grad.shape == x.shape
            assert all(p.grad.shape == p.shape and p.grad.dtype == torch.float32
                       for p in params)


def compiled_matches_eager(module, x):
    from torch.export._trace import _disable_custom_triton_op_functional_decomposition
    torch._dynamo.reset()
    eager_x = x.detach().clone().requires_grad_()
    eager = module(eager_x)
    eager_out = eager if isinstance(eager, torch.Tensor) else sum(o.sum() for o in eager)
    eager_out.sum().backward()
    eager_grads = [p.grad.clone() for p in module.parameters() if p.grad is not None]
    module.zero_grad(set_to_none=True)
    # The interpreter cannot run kernels on the functional tensors that Inductor's lowering
    # traces them with: the ops stay opaque here (as in torch.export), through their fakes.
    with _disable_custom_triton_op_functional_decomposition():
        compiled = torch.compile(module, backend='aot_eager', fullgraph=True)
        out = compiled(x.detach().clone().requires_grad_())
        out = out if isinstance(out, torch.Tensor) else sum(o.sum() for o in out)
        out.sum().backward()
    torch.testing.assert_close(out, eager_out, rtol=1e-5, atol=1e-5)
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert len(grads) == len(eager_grads)
    for g, w in zip(grads, eager_grads):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('inplace', [False, True])
def test_compile_fullgraph_of_the_layer(on, inplace):
    layer = trained_like(6, torch.float32, device=on)
    layer.inplace = inplace
    conv = torch.nn.Conv2d(3, 6, 3).to(on)
    compiled_matches_eager(torch.nn.Sequential(conv, layer), torch.randn(2, 3, 12, 11, device=on))


def test_compile_fullgraph_of_a_cgd_resnet(on):
    model = CGDResNet(depth=18, plugins=[dict(cfg=dict(type='CGD', inplace=True),
                                              position='before_norm1')]).to(on)
    model.train()
    compiled_matches_eager(model, torch.randn(1, 3, 32, 32, device=on))


def test_a_single_column_with_any_stride_takes_the_triton_path(on):
    """W = 1: the position stride is H's, whatever W's (arbitrary for a size-1 dim) says."""
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64, device=on)[:, :, :, 2:3]  # H's stride 5
    assert cgd_triton.applies(x) and cgd_triton.hw_strides(x)[2] == 5
    layer = trained_like(3, device=on)
    weights = torch.randn_like(x)
    for g, w in zip(step(layer, x, weights), reference(layer, x, weights)):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_other_layouts_take_the_pytorch_path(on):
    x = torch.randn(1, 3, 4, 5, device=on).transpose(2, 3)  # H and W do not collapse
    assert not cgd_triton.applies(x)
    layer = trained_like(3, device=on)
    torch.testing.assert_close(layer(x.double()), layer.forward_plain(x.double()))


# In a process of its own, Triton's compiler (not its interpreter) with the host-time tool's
# stand-in sm_90 driver: training steps and inference at the benchmark shapes (float32 and
# float16) make Triton compile exactly what the launches use; then ptxas's report on each, and
# the direct launches checked against the JIT's own (the same arguments to the launcher).
COMPILE_FOR_SM90 = r'''
import importlib.util, re, subprocess, sys, tempfile
spec = importlib.util.spec_from_file_location('host_time', sys.argv[1])
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
import torch
from triton.backends.nvidia.compiler import get_ptxas
from triton.runtime.jit import JITFunction
from mmdet_cgd.models.layers import CGD
from mmdet_cgd.ops import cgd, cgd_triton
received, jit_runs, jit_run = [], [], JITFunction.run
tool.NoLaunch.__call__ = lambda self, *args: received.append(args)
JITFunction.run = lambda self, *args, **kwargs: jit_runs.append(1) or jit_run(self, *args, **kwargs)
tool.use_stand_in_driver()

def launcher_arguments(direct):
    """What the launcher gets in one training step, tensors by dtype, shape and strides, but
    the launch metadata (the JIT's for hooks, None where no hook is set)."""
    eager = cgd_triton.Launch.eager
    if not direct:
        cgd_triton.Launch.eager = lambda launch, _, *tensors: eager(launch, None, *tensors)
    received.clear()
    cgd(x.detach().requires_grad_(), False, *params).backward(g)
    cgd_triton.Launch.eager = eager
    return [tuple((a.dtype, a.shape, a.stride()) if isinstance(a, torch.Tensor) else a
                  for i, a in enumerate(args) if i != 6) for args in received]

for shape, dtype in (((2, 256, 200, 304), torch.float32), ((2, 256, 200, 304), torch.float16),
                     ((2, 2048, 25, 38), torch.float32)):
    params = CGD(shape[1]).parameters_in_order()
    x, g = torch.empty(shape, dtype=dtype), torch.empty(shape, dtype=dtype)
    for inplace in (False, True):
        with torch.no_grad():
            cgd(x, inplace, *params)
    jit = launcher_arguments(direct=False)
    launcher_arguments(direct=True)  # the backward's first direct call goes through the JIT
    jit_runs.clear()
    assert len(jit) == 6 and launcher_arguments(direct=True) == jit and not jit_runs
kernels = cgd_triton.kernels()
ptxas = get_ptxas(90).path
for name in ('pool_kernel', 'attention_kernel', 'scale_kernel', 'product_sum_kernel',
             'attention_backward_kernel', 'input_gradient_kernel'):
    for compiled in getattr(kernels, name).device_caches[0][0].values():
        target = re.search(r'\.target (\w+)', compiled.asm['ptx']).group(1)
        with tempfile.NamedTemporaryFile('w', suffix='.ptx') as ptx:
            ptx.write(compiled.asm['ptx'])
            ptx.flush()
            report = subprocess.run([ptxas, '-v', '--gpu-name', target, ptx.name, '-o',
                                     '/dev/null'], capture_output=True, text=True, check=True)
        spills = re.findall(r'(\d+) bytes spill (?:stores|loads)', report.stderr)
        assert spills and not any(int(s) for s in spills), (name, report.stderr)
        print(name, target, compiled.metadata.num_warps, 'warps, no spills')
'''


@needs_triton
def test_what_the_launches_run_compiles_for_the_h200_without_spills():
    """Triton's own compiler down to sm_90 machine code, no GPU needed, for the specialisations
    the launches use at the benchmark shapes (block sizes, warps, stride and constexpr
    specialisations, as the JIT chose them); ptxas's report shows no spills. In a fresh
    process: this one's Triton is the interpreter's."""
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    proc = subprocess.run([sys.executable, '-c', COMPILE_FOR_SM90, TOOL], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) >= 6 and all(line.endswith('no spills') for line in lines), lines
