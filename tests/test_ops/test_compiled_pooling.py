"""The compiled one-read pooling (torch.ops.mmdet_cgd.sum_max_hw) against torch's sum and amax."""
import importlib.machinery
import warnings

import pytest
import torch

from mmdet_cgd.models.layers import CGD
from mmdet_cgd.ops import compiled_pooling, pooling
from mmdet_cgd.ops.compiled_pooling import compiled_sum_max, sum_max_hw

# H x W: under one SIMD step, not a multiple of it, several of the op's 2048-element blocks
SHAPES = [(1, 1, 1, 1), (2, 3, 3, 5), (2, 5, 17, 19), (1, 4, 64, 97), (3, 2, 1, 4099)]


def test_the_op_is_built_in_this_install():
    """setup.py builds it (pip install --no-build-isolation); without it CGD trains at about
    1.45x of its bound on CPU instead of 1.15x, so a broken build must fail here."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert compiled_sum_max() is not None


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('shape', SHAPES)
def test_sum_and_max_match_torch(dtype, shape):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=dtype) * 3 + 1
    sums, peaks = torch.ops.mmdet_cgd.sum_max_hw(x)
    assert sums.dtype == peaks.dtype == dtype and sums.shape == peaks.shape == shape[:2]
    assert torch.equal(peaks, x.amax((2, 3)))  # the max is exact
    exact = x.double().sum((2, 3))
    scale = x.double().abs().sum((2, 3))
    assert ((sums.double() - exact).abs() <= scale * torch.finfo(dtype).eps * 4).all()


def test_float32_sum_is_as_accurate_as_torch_over_a_long_row():
    """1e6 copies of 0.1: float32 lanes within 2048-element blocks, blocks added in double."""
    x = torch.full((1, 1, 1000, 1000), 0.1)
    sums, _ = torch.ops.mmdet_cgd.sum_max_hw(x)
    exact = 1e6 * float(torch.tensor(0.1))
    assert abs(sums.item() - exact) <= abs(x.sum((2, 3)).item() - exact) + 1e-3 * exact * 1e-3


@pytest.mark.parametrize('special', ['nan', 'nan_last', 'inf', 'both_infs', '-inf'])
def test_nan_and_infinities_as_torch(special):
    x = torch.randn(2, 3, 7, 9)
    row = x[1, 2].view(-1)
    if special == 'nan':
        row[5] = float('nan')
    elif special == 'nan_last':
        row[-1] = float('nan')  # in the scalar tail, not a SIMD step
    elif special == 'inf':
        row[10] = float('inf')
    elif special == 'both_infs':  # the sum is NaN with no NaN in the row
        row[[3, 40]] = torch.tensor([float('inf'), -float('inf')])
    else:
        row[:] = -float('inf')
    sums, peaks = torch.ops.mmdet_cgd.sum_max_hw(x)
    torch.testing.assert_close(sums, x.sum((2, 3)), equal_nan=True)
    torch.testing.assert_close(peaks, x.amax((2, 3)), equal_nan=True, rtol=0, atol=0)


@pytest.mark.parametrize('bad, message', [
    (torch.randn(2, 3, 4, 5).transpose(2, 3), 'not contiguous'),
    (torch.randn(2, 3, 20), 'expected a contiguous 4-D CPU tensor, got 3-D'),
    (torch.randn(2, 3, 0, 5), 'expected H x W > 0'),
    (torch.ones(2, 3, 4, 5, dtype=torch.int32), 'sum_max_hw'),
])
def test_the_op_refuses_what_it_does_not_handle(bad, message):
    with pytest.raises(RuntimeError, match=message):
        torch.ops.mmdet_cgd.sum_max_hw(bad)


@pytest.mark.parametrize('x', [
    torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
    torch.randn(2, 3, 4, 5).half(),
    torch.randn(2, 3, 4, 5).bfloat16(),
    torch.randn(2, 3, 0, 5),
    torch.randn(16, 64, 3, 5),  # under 16 positions torch's reductions are faster
], ids=['channels_last', 'float16', 'bfloat16', 'empty', 'few_positions'])
def test_pooling_falls_back_to_torch_where_the_op_does_not_apply(x):
    assert sum_max_hw(x) is None


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('inplace', [False, True])
def test_training_step_is_the_same_with_either_pooling(monkeypatch, dtype, inplace):
    """CGD's output and every gradient, with the op and with torch's two reductions."""
    torch.manual_seed(0)
    layer = CGD(6, inplace=inplace).to(dtype)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    source = torch.randn(2, 6, 33, 71, dtype=dtype) * 2
    weights = torch.randn_like(source)
    results = []
    for compiled in (True, False):
        if not compiled:
            monkeypatch.setattr(pooling, 'sum_max_hw', lambda x: None)
        layer.zero_grad()
        x = source.clone().requires_grad_()
        y = layer(x * 1)  # a non-leaf that may be scaled in place
        (y * weights).sum().backward()
        results.append([y.detach(), x.grad] + [p.grad.clone() for p in layer.parameters()])
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for got, expected in zip(*results):
        torch.testing.assert_close(got, expected, rtol=tol, atol=tol * expected.abs().max())


@pytest.mark.parametrize('library', [None, b'', b'not a shared library'],
                         ids=['missing', 'empty', 'not_elf'])
def test_a_missing_or_broken_build_warns_once_and_pools_with_torch(monkeypatch, tmp_path,
                                                                  library):
    """Only the package's own directory is searched (tmp_path here): an editable install's
    finder would otherwise load another checkout's build, as it does for a clone sharing a venv."""
    if library is not None:
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        (tmp_path / f'{compiled_pooling.library_name()}{suffix}').write_bytes(library)
    monkeypatch.setattr(compiled_pooling, 'LIBRARY_DIR', tmp_path)
    compiled_sum_max.cache_clear()
    try:
        with pytest.warns(UserWarning, match='pip install --no-build-isolation') as record:
            assert sum_max_hw(torch.randn(1, 2, 3, 8)) is None
        if library is None:
            message = str(record[0].message)
            assert f'no {compiled_pooling.library_name()}*.so (built for torch' in message
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            assert sum_max_hw(torch.randn(1, 2, 3, 8)) is None  # no second warning
        a, peak = pooling.pool_hw(torch.ones(1, 2, 3, 8), torch.float32)
        assert torch.equal(a, torch.ones(1, 2)) and torch.equal(peak, torch.ones(1, 2))
    finally:
        compiled_sum_max.cache_clear()


def test_the_op_refuses_to_be_recorded_by_autograd():
    """It has no derivative: a gradient through it would silently never reach x."""
    x = torch.randn(2, 3, 4, 5, requires_grad=True)
    with pytest.raises(RuntimeError, match='sum_max_hw has no gradient'):
        torch.ops.mmdet_cgd.sum_max_hw(x)
    with torch.no_grad():
        sums, peaks = torch.ops.mmdet_cgd.sum_max_hw(x)
    assert not sums.requires_grad and torch.equal(peaks, x.detach().amax((2, 3)))
