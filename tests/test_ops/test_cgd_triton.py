"""CGD's Triton path (``ops.cgd_triton``), run on CPU tensors by Triton's interpreter
(``TRITON_INTERPRET=1``): the same kernels as on CUDA, against the float64 reference, at the
edges of their tiling; what one training step launches; meta and fake tensors; torch.compile.

Where this torch cannot run the path (no ``torch.library.triton_op`` before torch 2.6, or no
Triton) the tests that need it are skipped with that reason, and the fallback is tested."""
import copy
import os
import subprocess
import sys

import pytest
import torch
from layer_helpers import randomized, step
from torch.utils._python_dispatch import TorchDispatchMode

from mmdet_cgd.models import CGDResNet
from mmdet_cgd.models.layers import CGD
from mmdet_cgd.ops import cgd_function, cgd_triton, pooling
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


@pytest.fixture(scope='module')
def interpreted():
    """The Triton path on CPU tensors: 'cpu' counted as a Triton device, the kernels run by
    Triton's interpreter (``TRITON_INTERPRET=1``, set by conftest before Triton's import)."""
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    if os.environ.get('TRITON_INTERPRET') != '1':
        pytest.skip('TRITON_INTERPRET=1 was not set before Triton was imported')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cgd_triton, 'TRITON_DEVICES', ('cuda', 'cpu'))
        yield


def trained_like(c, dtype=torch.float64, seed=0):
    return randomized(c, seed, dtype)


def reference(layer, x, weights):
    """``step`` on the plain path in float64."""
    return step(copy.deepcopy(layer).double(), x.double(), weights.double(), plain=True)


def assert_within(got, want, tol):
    err = (got.double() - want).abs().max().item()
    assert err <= tol * want.abs().max().item(), (err, want.abs().max().item())


def test_the_path_taken_on_cuda_is_stated():
    """Both ways: the Triton path where torch and Triton allow it, otherwise a reason, and then
    every tensor takes the PyTorch path."""
    if UNAVAILABLE is None:
        assert cgd_triton.OPS_REGISTERED
        assert hasattr(torch.ops.mmdet_cgd, 'cgd_backward')
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
def test_triton_path_matches_the_plain_path_in_float64(interpreted, shape, inplace, layout):
    layer = trained_like(SHAPES[shape][1])
    layer.inplace = inplace
    x = LAYOUTS[layout](torch.randn(SHAPES[shape], dtype=torch.float64) * 2)
    weights = torch.randn_like(x)
    assert cgd_triton.applies(x)
    expected = reference(layer, x, weights)
    got = step(layer, x, weights)
    assert got[1].stride() == x.stride()  # the gradient in the input's layout
    for g, w in zip(got, expected):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def relative_error(got, want):
    return ((got.double() - want).abs().max() / want.abs().max()).item()


@pytest.mark.parametrize('inplace', [False, True])
@pytest.mark.parametrize('dtype', list(TOLERANCE))
def test_narrow_dtypes_are_as_accurate_as_the_pytorch_path(interpreted, monkeypatch, dtype,
                                                           inplace):
    """float32 parameters (as under AMP), the activation in ``dtype``: value and input gradient
    within the dtype's tolerance of float64; the parameter gradients, some ill-conditioned in
    narrow dtypes (sums of terms that cancel), within twice the device-generic PyTorch path's
    error or five times the dtype's tolerance (over 12 seeds the median ratio was 1.1 in
    float32; in float16 the kernels' float32 products are the more accurate)."""
    layer = trained_like(8, torch.float32, seed=3)
    layer.inplace = inplace
    x = (torch.randn(2, 8, 10, 12) * 2).to(dtype)
    flat = x.view(2, 8, 120)  # one clear max per channel: rounding to ``dtype`` makes ties,
    flat.scatter_add_(2, flat.argmax(2, keepdim=True), torch.ones(2, 8, 1, dtype=dtype))
    weights = torch.randn_like(x)  # where the reference's amax would split the gradient
    expected = reference(layer, x, weights)  # the same (rounded) inputs, in float64
    got = step(layer, x, weights)
    assert got[0].dtype == got[1].dtype == dtype
    assert all(g.dtype == torch.float32 for g in got[2:])
    for g, w in zip(got[:2], expected[:2]):
        assert relative_error(g, w) <= TOLERANCE[dtype]
    monkeypatch.setattr(cgd_triton, 'TRITON_DEVICES', ('cuda', ))
    monkeypatch.setattr(pooling, 'CHUNKED_DEVICES', ())
    baseline = step(layer, x, weights)
    for g, b, w in zip(got[2:], baseline[2:], expected[2:]):
        assert relative_error(g, w) <= max(2 * relative_error(b, w), 5 * TOLERANCE[dtype])


def test_a_wide_batch_of_wide_layers(interpreted):
    """N x C = 16 x 4096: the per-sample kernels hold 4096 channels in one block."""
    layer = trained_like(4096, torch.float32)
    x = torch.randn(16, 4096, 1, 2)
    weights = torch.randn_like(x)
    expected = reference(layer, x, weights)
    for g, w in zip(step(layer, x, weights), expected):
        assert_within(g, w, 1e-5)


def test_a_million_positions(interpreted, monkeypatch):
    """2^20 positions in one channel, split into ranges combined in order (few programs of
    many blocks each: the interpreter's cost is per block). The forward kernels; backward's
    tile the same way (``tiling``), tested at smaller sizes above."""
    monkeypatch.setattr(cgd_triton, 'TARGET_PROGRAMS', 4)
    layer = trained_like(1)
    x = torch.randn(1, 1, 1024, 1024, dtype=torch.float64)
    x[0, 0, 700, 3] = 9.0  # the max, in the last range
    assert cgd_triton.tiling(x)[2:] == (4, 2**18)
    att, mean, peak, position = torch.ops.mmdet_cgd.cgd_attention(x, *layer.parameters_in_order())
    assert position.item() == 700 * 1024 + 3 and peak.item() == 9.0
    torch.testing.assert_close(mean, x.mean((2, 3)), rtol=1e-12, atol=1e-15)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), layer.forward_plain(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('layout', list(LAYOUTS))
def test_tied_maxima_give_the_gradient_to_the_first_position(interpreted, layout):
    """As torch.argmax: ties within a block and across splits go to the first position."""
    x = torch.zeros(2, 3, 40, 51, dtype=torch.float64)
    x[:, :, 0, 5] = x[:, :, 0, 9] = x[:, :, 39, 50] = 3.0  # tied in the first and last block
    x = LAYOUTS[layout](x)
    att, mean, peak, position = torch.ops.mmdet_cgd.cgd_attention(
        x, *trained_like(3).parameters_in_order())
    assert (position.long() == x.flatten(2).argmax(2)).all() and (position == 5).all()
    layer = trained_like(3)
    gx = step(layer, x, torch.ones_like(x))[1]
    mean_share = gx[:, :, 1, 0]
    assert (gx[:, :, 0, 5] != mean_share).all()
    torch.testing.assert_close(gx[:, :, 0, 9], mean_share, rtol=0, atol=1e-15)
    torch.testing.assert_close(gx[:, :, 39, 50], mean_share, rtol=0, atol=1e-15)


def test_nan_and_infinity_break_only_their_sample_as_the_pytorch_path_does(interpreted):
    x = torch.randn(4, 3, 40, 51, dtype=torch.float64)
    x[0, 1, 20, 30] = float('nan')
    x[1, 2, 0, 7] = x[1, 2, 39, 2] = float('nan')
    x[2, 0, 5, 5] = float('inf')
    layer = trained_like(3)
    att, mean, peak, position = torch.ops.mmdet_cgd.cgd_attention(x, *layer.parameters_in_order())
    values, indices = x.flatten(2).max(2)  # torch.max: a NaN is the max, the first one
    assert (position.long() == indices).all()
    torch.testing.assert_close(peak, values, equal_nan=True)
    y = layer(x)
    expected = layer.forward_plain(x)
    assert torch.isnan(y[:3]).all() and torch.isfinite(y[3]).all()
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_in_place_after_an_op_that_keeps_its_output_is_refused(interpreted):
    layer = CGD(4, inplace=True)
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    with pytest.raises(CGDConfigError, match='keeps it for backward'):
        layer(torch.relu(x))


def test_inference_scales_in_place_under_no_grad_in_three_launches(interpreted, monkeypatch):
    launched = []
    launch = cgd_triton.launch
    monkeypatch.setattr(cgd_triton, 'launch',
                        lambda kernel, *args, **meta: launched.append(kernel.fn.__name__)
                        or launch(kernel, *args, **meta))
    layer = trained_like(4, torch.float32)
    x = torch.randn(2, 4, 6, 7)
    expected = layer.forward_plain(x.clone())
    layer.inplace = True
    with torch.no_grad():
        y = layer(x)
    assert y.data_ptr() == x.data_ptr()
    assert launched == ['pool_kernel', 'attention_kernel', 'scale_kernel']
    assert_within(y, expected.double(), 1e-6)


def test_results_are_deterministic(interpreted):
    layer = trained_like(5, torch.float32)
    x = torch.randn(2, 5, 40, 51)
    weights = torch.randn_like(x)
    first, second = step(layer, x, weights), step(layer, x, weights)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


class TopLevelOps(TorchDispatchMode):
    """Every operator called, without what runs inside one."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


ALLOCATIONS = {'aten.empty', 'aten.new_empty', 'aten.empty_like'}


@pytest.mark.parametrize('inplace', [False, True])
def test_a_training_step_launches_six_kernels(interpreted, monkeypatch, inplace):
    """Forward and backward: three custom ops whose bodies launch six Triton kernels and
    otherwise only allocate (checked by running them on meta tensors); no other operator."""
    launched = []

    def counting(kernel, grid, *args, **meta):
        launched.append(kernel.fn.__name__)
        if args[0].device.type != 'meta':
            kernel[grid](*args, **meta)

    monkeypatch.setattr(cgd_triton, 'launch', counting)
    layer = trained_like(6, torch.float32)
    layer.inplace = inplace
    for device in ('cpu', 'meta'):
        monkeypatch.setattr(cgd_triton, 'TRITON_DEVICES', ('cuda', 'cpu', 'meta'))
        x = torch.randn(2, 6, 9, 13, device=device, requires_grad=True) * 1
        g = torch.randn(2, 6, 9, 13, device=device)
        layer.to(device).zero_grad(set_to_none=True)
        launched.clear()
        with TopLevelOps() as top:
            layer(x).backward(g)
        scale = 'cgd_scale_' if inplace else 'cgd_scale'
        # then outside CGD: the six parameter gradients stored, the test's ``* 1`` and x's
        # (``detach``: views that launch nothing, a few more in place)
        assert [op for op in top.ops if op != 'aten.detach'] == [
            'mmdet_cgd.cgd_attention', f'mmdet_cgd.{scale}', 'mmdet_cgd.cgd_backward',
            'aten.mul']
        if device == 'cpu':
            assert launched == ['pool_kernel', 'attention_kernel', 'scale_kernel',
                                'product_sum_kernel', 'attention_backward_kernel',
                                'input_gradient_kernel']
    # what the op bodies run besides their launches: allocations only
    x = torch.empty(2, 6, 9, 13, device='meta')
    params = [p.to('meta') for p in layer.parameters_in_order()]
    with TopLevelOps() as inner:
        att, mean, peak, position = cgd_triton.attention_impl(x, *params)
        cgd_triton.scale_into(x, att, x)
        cgd_triton.backward_impl(x, x, att, mean, peak, position, *params, True)
    assert set(inner.ops) <= ALLOCATIONS, inner.ops
    assert len(launched) + len(set(inner.ops) - ALLOCATIONS) <= 8


def test_meta_and_fake_tensors_get_shapes_without_kernels(interpreted):
    """The ops' fake implementations: shapes, dtypes and layouts, no kernel, no data."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    for dtype in (torch.float16, torch.float32):
        for inplace in (False, True):
            with FakeTensorMode():
                x = torch.empty(2, 8, 20, 24, dtype=dtype).requires_grad_()
                params = [torch.empty(8, 1).requires_grad_() for _ in range(3)] + \
                    [torch.empty(1, 8, 1, 1).requires_grad_() for _ in range(3)]
                assert cgd_triton.applies(x)
                y = cgd_function.cgd(x * 1, inplace, *params)
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
def test_compile_fullgraph_of_the_layer(interpreted, inplace):
    layer = trained_like(6, torch.float32)
    layer.inplace = inplace
    conv = torch.nn.Conv2d(3, 6, 3)
    compiled_matches_eager(torch.nn.Sequential(conv, layer), torch.randn(2, 3, 12, 11))


def test_compile_fullgraph_of_a_cgd_resnet(interpreted):
    model = CGDResNet(depth=18, plugins=[dict(cfg=dict(type='CGD', inplace=True),
                                              position='before_norm1')])
    model.train()
    compiled_matches_eager(model, torch.randn(1, 3, 32, 32))


def test_a_single_column_with_any_stride_takes_the_triton_path(interpreted):
    """W = 1: the position stride is H's, whatever W's (arbitrary for a size-1 dim) says."""
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)[:, :, :, 2:3]  # W's stride stays 1, H's 5
    assert cgd_triton.applies(x) and cgd_triton.hw_strides(x)[2] == 5
    layer = trained_like(3)
    weights = torch.randn_like(x)
    for g, w in zip(step(layer, x, weights), reference(layer, x, weights)):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


def test_other_layouts_take_the_pytorch_path(interpreted):
    x = torch.randn(1, 3, 4, 5).transpose(2, 3)  # H and W do not collapse into one stride
    assert not cgd_triton.applies(x)
    layer = trained_like(3)
    torch.testing.assert_close(layer(x.double()), layer.forward_plain(x.double()))


# Triton's compiler run on every kernel for sm_90, outside the interpreter: float16 activations
# (AMP) with float32 vectors, and float64 throughout; argument types by name.
COMPILE_FOR_SM90 = r'''
import importlib.util, sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
spec = importlib.util.spec_from_file_location('cgd_kernels', sys.argv[1])
kernels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernels)
PARAMS = ('w0', 'w1', 'w2', 'b0', 'b1', 'b2')
for act, vec in (('*fp16', '*fp32'), ('*fp64', '*fp64')):
    pointers = dict(x_ptr=act, y_ptr=act, g_ptr=act, t_ptr=act, gx_ptr=act, pos_ptr='*i32',
                    position_ptr='*i32', **{f'{p}_ptr': '*fp32' for p in PARAMS},
                    **{f'd{p}_ptr': '*fp32' for p in PARAMS})
    for name in ('pool_kernel', 'attention_kernel', 'scale_kernel', 'product_sum_kernel',
                 'attention_backward_kernel', 'input_gradient_kernel'):
        kernel = getattr(kernels, name)
        constants = {k: v for k, v in dict(BLOCK_C=4, BLOCK_HW=1024, KEPT_X=True).items()
                     if k in kernel.arg_names}
        if name.startswith('attention'):
            constants['BLOCK_C'] = 4096
        signature = {arg: 'constexpr' if arg in constants
                     else pointers.get(arg, vec if arg.endswith('_ptr') else 'i32')
                     for arg in kernel.arg_names}
        compiled = triton.compile(ASTSource(kernel, signature, constants),
                                  target=GPUTarget('cuda', 90, 32), options={'num_warps': 8})
        assert compiled.asm['cubin'], name
        print(name, act, 'sm_90', len(compiled.asm['cubin']), 'bytes')
'''


@pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))
def test_every_kernel_compiles_for_the_h200():
    """Triton's own compiler down to sm_90 machine code (with its bundled ptxas), no GPU
    needed: what the interpreter cannot show (types, constexpr globals, layouts) fails here.
    In a fresh process: this one's Triton is the interpreter's."""
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    path = os.path.join(os.path.dirname(cgd_triton.__file__), 'cgd_triton_kernels.py')
    proc = subprocess.run([sys.executable, '-c', COMPILE_FOR_SM90, path], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('sm_90') == 12, proc.stdout
