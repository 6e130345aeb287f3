"""The PyTorch path (``CGDFunction``, ``cgd_inference``) against the plain path and the explicit
equations; its operator count, and its runs on ``meta`` tensors, which refuse ``.item()`` and
``bool()``: any host synchronisation fails there."""
import copy

import pytest
import torch
from layer_helpers import randomized, step
from torch.utils._python_dispatch import TorchDispatchMode
from torch_support import needs_cpu_autocast

from mmdet_cgd.models import CGDResNet
from mmdet_cgd.models.layers import CGD
from mmdet_cgd.ops import CGDFunction


def assert_agree(got, expected, tol=1e-6):
    """Max difference within ``tol`` of the tensor's own scale (float32 sums differ in order)."""
    err = (got - expected).abs().max().item()
    assert err <= tol * max(1.0, expected.abs().max().item()), (err, expected.abs().max())


def value_and_grads(layer, x, fused):
    layer.zero_grad()
    x = x.detach().clone().requires_grad_()
    y = layer(x) if fused else layer.forward_plain(x)
    # a loss that weighs every position differently
    (y * torch.linspace(-1, 2, y.numel()).view_as(y).to(y.dtype)).sum().backward()
    return [y.detach(), x.grad] + [p.grad.clone() for p in layer.parameters()]


LAYOUTS = {
    'contiguous': lambda x: x,
    'channels_last': lambda x: x.contiguous(memory_format=torch.channels_last),
    'non_contiguous': lambda x: x.transpose(2, 3),
}


@pytest.mark.parametrize('shape', [(2, 16, 9, 7), (1, 1, 1, 1), (3, 8, 1, 5), (1, 64, 20, 24)])
@pytest.mark.parametrize('layout', list(LAYOUTS))
def test_fused_matches_plain_to_1e6_in_value_and_gradient(shape, layout):
    """The fused float32 path is as accurate as autograd through the plain float32 path, up to
    1e-6 of each tensor's scale, against the same computation in float64. (Not fused against
    plain directly: on an Intel Xeon here their float32 parameter gradients differed by 1.04e-6
    of their scale, erring in opposite directions, each within 5.8e-7 of float64.)"""
    layer = randomized(shape[1])
    x = LAYOUTS[layout](torch.randn(shape) * 2)
    fused, plain = value_and_grads(layer, x, True), value_and_grads(layer, x, False)
    exact = value_and_grads(copy.deepcopy(layer).double(), x.double(), False)
    for f, p, e in zip(fused, plain, exact):
        scale = max(1.0, e.abs().max().item())
        fused_error = (f.double() - e).abs().max().item()
        plain_error = (p.double() - e).abs().max().item()
        assert fused_error <= plain_error + 1e-6 * scale, (fused_error, plain_error, scale)


def test_fused_gradcheck_in_float64():
    layer = randomized(5, dtype=torch.float64)
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_() for p in layer.parameters_in_order()]
    assert torch.autograd.gradcheck(lambda x, *ps: CGDFunction.apply(x, False, *ps), (x, *params))


def test_training_forward_is_fused_and_only_tracing_uses_the_plain_path(monkeypatch):
    layer, x = randomized(4), torch.randn(1, 4, 3, 3)
    calls = []
    fused = CGDFunction.apply
    monkeypatch.setattr(CGDFunction, 'apply', lambda *a: calls.append('fused') or fused(*a))
    monkeypatch.setattr(CGD, 'forward_plain', lambda self, t: calls.append('plain') or t)
    layer(x)
    with torch.no_grad():
        layer(x)
    torch.jit.trace(layer, x, check_trace=False)
    assert calls == ['fused', 'plain']


@pytest.mark.parametrize('layout', list(LAYOUTS))
@pytest.mark.parametrize('inplace', [False, True])
def test_inference_matches_the_plain_path(layout, inplace):
    """Under no_grad CGD runs ``cgd_inference``, not ``forward_plain``."""
    layer = randomized(6, dtype=torch.float64)
    layer.inplace = inplace
    x = LAYOUTS[layout](torch.randn(2, 6, 9, 13, dtype=torch.float64) * 2)
    with torch.no_grad():
        expected = layer.forward_plain(x.clone())
        got = layer(x)
    assert_agree(got, expected, tol=1e-12)
    assert (got.data_ptr() == x.data_ptr()) == inplace


def big_saved_tensors(fn):
    """The activation-sized tensors autograd keeps for backward while ``fn()`` runs."""
    big = []

    def pack(t):
        if t.dim() == 4 and t.shape[2:] != (1, 1):
            big.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, big


def test_inplace_backward_keeps_only_the_output():
    """inplace=True after a conv: one activation kept, the output (no copy of the input)."""
    layer = randomized(32)
    layer.inplace = True
    conv_out = torch.nn.Conv2d(32, 32, 1)(torch.randn(2, 32, 40, 40)).detach().requires_grad_()
    pre = conv_out * 1  # a non-leaf, as a conv's output is
    y, big = big_saved_tensors(lambda: layer(pre))
    assert len(big) == 1 and big[0].data_ptr() == y.data_ptr() == pre.data_ptr()


def test_allocating_backward_keeps_only_the_input():
    """inplace=False keeps x, as autograd's plain path does, and not y: a consumer may modify y
    in place."""
    layer = randomized(32)
    x = torch.randn(2, 32, 40, 40, requires_grad=True)
    y, big = big_saved_tensors(lambda: layer(x))
    assert len(big) == 1 and big[0].data_ptr() == x.data_ptr() != y.data_ptr()
    _, plain = big_saved_tensors(lambda: layer.forward_plain(x))
    assert any(t.data_ptr() == x.data_ptr() for t in plain), 'the plain path keeps x'


@pytest.mark.parametrize('fullgraph', [
    False,
    pytest.param(True, marks=pytest.mark.skipif(
        torch.__version__ < '2.14', reason='needs torch >= 2.14 (the oldest verified): dynamo in '
        'torch 2.1 cannot trace the fused autograd.Function in one graph'))])
@pytest.mark.parametrize('inplace', [False, True])
def test_works_under_torch_compile(fullgraph, inplace):
    """Same values and gradients compiled; with fullgraph, without a graph break. In place too,
    where CGD's input is the compiled graph's own input (its gradient came out wrong when the
    Function scaled it in place there) or made inside it."""
    layer = randomized(8)
    layer.inplace = inplace
    for model in (layer, torch.nn.Sequential(torch.nn.Conv2d(8, 8, 1), layer)):
        def run(module, model=model):
            model.zero_grad()
            source = torch.randn(2, 8, 6, 6, generator=torch.Generator().manual_seed(0))
            source.requires_grad_()
            y = module(source * 1)  # a non-leaf, as in-place CGD needs
            (y * torch.linspace(-1, 2, y.numel()).view_as(y)).sum().backward()
            return [y.detach(), source.grad] + [p.grad.clone() for p in model.parameters()]

        torch._dynamo.reset()
        compiled = torch.compile(model, backend='aot_eager', fullgraph=fullgraph)
        for e, g in zip(run(model), run(compiled)):
            assert_agree(g, e)


@pytest.mark.parametrize('dtype', [
    torch.bfloat16, pytest.param(torch.float16, marks=needs_cpu_autocast(torch.float16))])
def test_autocast_keeps_the_input_dtype_and_matches_float32(dtype):
    layer = randomized(16)
    x = torch.randn(2, 16, 8, 8)
    with torch.autocast('cpu', dtype=dtype):
        xa = x.to(dtype).requires_grad_()
        y = layer(xa)
        y.float().sum().backward()
    assert y.dtype == dtype and xa.grad.dtype == dtype and layer.w0.grad.dtype == torch.float32
    torch.testing.assert_close(y.float(), layer.forward_plain(x.to(dtype).float()),
                               rtol=2e-2, atol=2e-2)


def test_inplace_gives_the_same_values_and_gradients_without_a_new_tensor():
    layer = randomized(16)
    inplace = randomized(16)
    inplace.inplace = True
    x = torch.randn(2, 16, 9, 7)
    conv = torch.nn.Conv2d(16, 16, 1)  # in place is meant for a conv's output
    expected, got = [], []
    for cgd, out in ((layer, expected), (inplace, got)):
        cgd.zero_grad()
        conv.zero_grad()
        pre = conv(x)
        y = cgd(pre)
        if cgd is inplace:
            assert y.data_ptr() == pre.data_ptr()
        (y * torch.linspace(-1, 2, y.numel()).view_as(y)).sum().backward()
        out += [y.detach(), conv.weight.grad.clone()] + [p.grad.clone() for p in cgd.parameters()]
    for g, e in zip(got, expected):
        assert_agree(g, e)
    with torch.no_grad():
        z = torch.randn(1, 16, 4, 4)
        ref = layer.forward_plain(z)
        assert inplace(z) is z and torch.allclose(z, ref)


def test_inplace_where_autograd_needs_the_input_is_a_config_error_at_forward():
    from mmdet_cgd.utils.errors import CGDConfigError
    layer = randomized(8)
    layer.inplace = True
    x = torch.randn(1, 8, 4, 4, requires_grad=True)
    after_relu = torch.relu(x * 2)  # relu keeps its output for backward
    with pytest.raises(CGDConfigError, match='keeps it for backward'):
        layer(after_relu)


@pytest.mark.parametrize('inplace', [False, True])
def test_tied_maxima_send_the_max_gradient_to_the_first_position(inplace):
    """As torch.argmax: the first maximum in h * W + w order gets all of it, in both kept forms
    and both layouts."""
    layer = randomized(2, dtype=torch.float64)
    layer.inplace = inplace
    for layout in ('contiguous', 'channels_last'):
        x = torch.zeros(1, 2, 3, 4, dtype=torch.float64)
        x[0, :, 1, 2] = x[0, :, 2, 0] = 5.0  # two equal maxima per channel
        grad = step(layer, LAYOUTS[layout](x), torch.ones_like(x))[1]
        mean_part = grad[0, :, 0, 0]  # a position that is no maximum: the mean's share alone
        assert (grad[0, :, 1, 2] != mean_part).all()  # the first maximum: mean's share + max's
        torch.testing.assert_close(grad[0, :, 2, 0], mean_part, rtol=0, atol=1e-15)


@pytest.mark.parametrize('inplace', [False, True])
def test_a_training_step_is_deterministic_and_allowed_in_deterministic_mode(inplace):
    """``torch.use_deterministic_algorithms(True)`` (mmengine's ``deterministic=True``) accepts
    every operator, and two steps agree to the bit."""
    layer = randomized(5)
    layer.inplace = inplace
    x = torch.randn(2, 5, 40, 51)
    weights = torch.randn_like(x)
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        first, second = step(layer, x, weights), step(layer, x, weights)
    finally:
        torch.use_deterministic_algorithms(before)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_matches_float32(dtype):
    """Reductions accumulate in float32 through ``dtype=``; products and the output are in the
    input's dtype, so agreement is to a few units of its precision."""
    layer32 = randomized(8, dtype=torch.float32)
    x = torch.randn(2, 8, 10, 12) * 2
    weights = torch.randn_like(x)
    want = step(copy.deepcopy(layer32), x, weights)
    got = step(layer32, x.to(dtype), weights.to(dtype))
    tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]
    for g, w in zip(got[:2], want[:2]):
        assert g.dtype == dtype
        assert ((g.float() - w).abs().max() <= tol * w.abs().max()), (g.float() - w).abs().max()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('inplace', [False, True])
def test_training_forward_and_backward_run_on_meta_tensors(dtype, inplace):
    layer = CGD(16, inplace=inplace).to(device='meta', dtype=dtype)
    source = torch.empty(2, 16, 20, 24, device='meta', dtype=dtype, requires_grad=True)
    y = layer(source * 1)
    y.backward(torch.empty_like(y))
    assert y.shape == source.shape and y.dtype == dtype and y.device.type == 'meta'
    assert source.grad.shape == source.shape
    assert all(p.grad is not None and p.grad.shape == p.shape for p in layer.parameters())


def test_a_cgd_resnet_training_step_runs_on_meta_tensors():
    """The paper placement, in place, every block: the whole backbone's step syncs nowhere."""
    model = CGDResNet(depth=18, plugins=[dict(cfg=dict(type='CGD', inplace=True),
                                              position='before_norm1')]).to('meta')
    model.train()
    outs = model(torch.empty(2, 3, 64, 64, device='meta'))
    sum(o.sum() for o in outs).backward()
    cgd_grads = [p.grad for n, p in model.named_parameters() if '.cgd.' in n]
    assert len(cgd_grads) == 8 * 6 and all(g is not None for g in cgd_grads)


class Operators(TorchDispatchMode):
    """The ATen operators called, without what runs inside one, nor views and the shape query
    of torch 2.1's autograd engine (no kernel)."""

    def __init__(self):
        super().__init__()
        self.computed = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view and str(func.overloadpacket) != 'aten.is_same_size':
            self.computed.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('inplace', [False, True])
def test_a_training_step_dispatches_at_most_45_operators(inplace):
    """#30: one layer's training forward + backward in float32 on the PyTorch path is at most
    45 ATen operators (45 here, 73 before the redesign; views aside): on a GPU each is a launch,
    and (N, C) vectors cost their launch, not their size."""
    layer = randomized(64)
    layer.inplace = inplace
    x = torch.randn(2, 64, 9, 13, requires_grad=True) * 1  # a non-leaf, as a conv's output is
    g = torch.randn_like(x)
    with Operators() as counted:
        y = layer(x)
        y.backward(g, inputs=list(layer.parameters()))  # CGD's backward, not that of ``* 1``
    assert all(p.grad is not None for p in layer.parameters())
    assert 'aten.scatter_add_' in counted.computed  # backward ran, to dL/dx
    assert len(counted.computed) <= 45, (len(counted.computed), counted.computed)
