"""The path CGD takes off the CPU (CUDA, other accelerators): one reduction kernel each, max
positions recorded in forward, no host synchronisation. Run on CPU with the chunked path turned
off, and on ``meta`` tensors, which refuse ``.item()`` and ``bool()``: any synchronisation fails
there."""
import copy

import pytest
import torch
from layer_helpers import randomized, step

from mmdet_cgd.models import CGDResNet
from mmdet_cgd.models.layers import CGD
from mmdet_cgd.ops import cgd_function, pooling

LAYOUTS = {
    'contiguous': lambda x: x,
    'channels_last': lambda x: x.contiguous(memory_format=torch.channels_last),
}


@pytest.fixture
def device_generic(monkeypatch):
    """The device-generic path on CPU; the CPU-only pieces it must not use fail if called."""
    monkeypatch.setattr(pooling, 'CHUNKED_DEVICES', ())

    def cpu_only(*args, **kwargs):
        raise AssertionError('a CPU-only piece ran on the device-generic path')

    for name in ('backward_reductions', 'positions_lost_by_scaling', 'max_positions'):
        monkeypatch.setattr(cgd_function, name, cpu_only)
    monkeypatch.setattr(pooling, 'sum_max_hw', cpu_only)


def trained_like(c, dtype=torch.float64):
    return randomized(c, dtype=dtype)


@pytest.mark.parametrize('layout', list(LAYOUTS))
@pytest.mark.parametrize('inplace', [False, True])
def test_device_generic_path_matches_the_plain_path_in_float64(device_generic, layout, inplace):
    layer = trained_like(6)
    layer.inplace = inplace
    x = LAYOUTS[layout](torch.randn(2, 6, 9, 13, dtype=torch.float64) * 2)
    weights = torch.randn_like(x)
    expected = step(copy.deepcopy(layer), x, weights, plain=True)
    for got, want in zip(step(layer, x, weights), expected):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_device_generic_path_gives_a_tied_max_gradient_to_the_first_position(monkeypatch):
    """As on CPU (and torch.argmax): the first maximum in h * W + w order gets all of it."""
    layer = trained_like(2)
    x = torch.zeros(1, 2, 3, 4, dtype=torch.float64)
    x[0, :, 1, 2] = x[0, :, 2, 0] = 5.0  # two equal maxima per channel
    on_cpu = step(layer, x, torch.ones_like(x))[1]
    monkeypatch.setattr(pooling, 'CHUNKED_DEVICES', ())
    generic = step(layer, x, torch.ones_like(x))[1]
    torch.testing.assert_close(generic, on_cpu, rtol=0, atol=1e-15)
    mean_part = generic[0, :, 0, 0]  # a position that is no maximum: the mean's share alone
    assert (generic[0, :, 1, 2] != mean_part).all()  # the first maximum: mean's share + max's
    torch.testing.assert_close(generic[0, :, 2, 0], mean_part, rtol=0, atol=1e-15)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_device_generic_half_precision_matches_float32(device_generic, dtype):
    """Reductions accumulate in float32 through ``dtype=``; products and the output are in the
    input's dtype, so agreement is to a few units of its precision."""
    layer32 = trained_like(8, torch.float32)
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
