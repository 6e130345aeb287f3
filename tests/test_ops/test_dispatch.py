"""Which implementation ``cgd`` takes: Triton where it applies and the backend allows it,
PyTorch otherwise; the Function where autograd records, inference otherwise. The Triton path
is replaced by recorders here (it has tests of its own)."""
import pytest
import torch
from layer_helpers import randomized

from mmdet_cgd.models.layers import CGD
from mmdet_cgd.ops import cgd_pytorch, cgd_triton
from mmdet_cgd.utils.errors import CGDConfigError


@pytest.fixture
def paths(monkeypatch):
    """The four implementations, each recording its name where it runs; Triton applies."""
    taken = []

    def recording(name, run):
        return lambda *args: taken.append(name) or run(*args)

    monkeypatch.setattr(cgd_triton, 'applies', lambda x: True)
    monkeypatch.setattr(cgd_triton.TritonCGDFunction, 'apply',
                        recording('triton training', cgd_pytorch.CGDFunction.apply))
    monkeypatch.setattr(cgd_triton, 'cgd_inference',
                        recording('triton inference', cgd_pytorch.cgd_inference))
    monkeypatch.setattr(cgd_pytorch.CGDFunction, 'apply',
                        recording('pytorch training', cgd_pytorch.CGDFunction.apply))
    monkeypatch.setattr(cgd_pytorch, 'cgd_inference',
                        recording('pytorch inference', cgd_pytorch.cgd_inference))
    monkeypatch.delenv('MMDET_CGD_BACKEND', raising=False)
    return taken


def run_both(layer):
    """One training and one no-grad call."""
    x = torch.randn(1, layer.in_channels, 3, 3)
    layer(x)
    with torch.no_grad():
        layer(x)


def test_auto_takes_triton_where_it_applies(paths):
    run_both(randomized(4))
    assert paths == ['triton training', 'triton inference']


def test_auto_takes_pytorch_where_triton_does_not_apply(paths, monkeypatch):
    monkeypatch.setattr(cgd_triton, 'applies', lambda x: False)
    run_both(randomized(4))
    assert paths == ['pytorch training', 'pytorch inference']


def test_the_backend_option_switches_back_to_pytorch(paths):
    layer = CGD(4, backend='pytorch')
    run_both(layer)
    assert paths == ['pytorch training', 'pytorch inference']


@pytest.mark.parametrize('value, path', [('pytorch', 'pytorch'), ('auto', 'triton'),
                                         ('', 'triton')])
def test_the_environment_variable_is_read_at_every_call(paths, monkeypatch, value, path):
    """Set after the layer was built and the package imported; an empty value is unset."""
    layer = randomized(4)
    layer(torch.randn(1, 4, 3, 3))
    monkeypatch.setenv('MMDET_CGD_BACKEND', value)
    run_both(layer)
    assert paths == ['triton training', f'{path} training', f'{path} inference']


def test_a_bad_environment_variable_names_what_is_allowed_and_given(paths, monkeypatch):
    monkeypatch.setenv('MMDET_CGD_BACKEND', 'triton')
    with pytest.raises(CGDConfigError, match="MMDET_CGD_BACKEND must be one of 'auto', "
                                             "'pytorch', got 'triton'"):
        randomized(4)(torch.randn(1, 4, 3, 3))


def test_frozen_parameters_and_an_input_without_grad_take_inference(paths):
    """Grad mode on, but nothing for autograd to record (a frozen stage in eval)."""
    layer = randomized(4).requires_grad_(False)
    layer(torch.randn(1, 4, 3, 3))
    assert paths == ['triton inference']
