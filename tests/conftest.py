import functools
import os
import sys
from pathlib import Path

import pytest
import torch

# Where there is no GPU, Triton's interpreter runs the CUDA kernels on CPU tensors (the
# ``device`` fixture's 'cpu'); on a CUDA machine the kernels run compiled (``-k cuda``). It must
# be chosen before anything imports Triton, whose own library functions it wraps.
if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')

# the demo's own modules (demo/figures.py), importable as the demo script imports them
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'demo'))

from layer_helpers import explicit_cgd  # noqa: E402
from synthetic_coco import SyntheticSpec, write_dataset  # noqa: E402

from mmdet_cgd.ops import cgd_triton, triton_unavailable_reason  # noqa: E402


@pytest.fixture(scope='session', autouse=True)
def model_index_read_once():
    """mmengine reads a package's whole model index (100+ yaml files) again for every
    ``pkg::`` base of every config it parses: here once per session (``parse_configs``)."""
    import mmengine.config.utils
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mmengine.config.utils, 'load',
                      functools.lru_cache(None)(mmengine.config.utils.load))
        yield


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'devices: tests parametrised over devices (cpu, and cuda where available); '
        'on a GPU machine ``pytest -m devices -k cuda`` runs their CUDA half')


@pytest.fixture(params=[
    pytest.param('cpu', marks=pytest.mark.devices),
    pytest.param('cuda', marks=[pytest.mark.devices, pytest.mark.skipif(
        not torch.cuda.is_available(), reason='no CUDA device here')]),
])
def device(request):
    """Each device a test runs on: 'cpu' (the Triton path there run by Triton's interpreter),
    and 'cuda' where there is one; both halves carry the ``devices`` marker."""
    return request.param


@pytest.fixture
def triton_on(device, monkeypatch):
    """``device``, where CGD takes its Triton path wherever that runs: CUDA as it is, CPU
    tensors through Triton's interpreter (``TRITON_INTERPRET=1``, set above before Triton's
    import) by counting 'cpu' as a Triton device."""
    if (device == 'cpu' and triton_unavailable_reason() is None
            and os.environ.get('TRITON_INTERPRET') == '1'):
        monkeypatch.setattr(cgd_triton, 'TRITON_DEVICES', ('cuda', 'cpu'))
    return device


def pytest_report_header(config):
    """Which path CGD takes on CUDA tensors under this torch (the Triton kernels or, with the
    reason, PyTorch's operators)."""
    reason = triton_unavailable_reason()
    return 'CGD on CUDA: ' + ('Triton kernels (mmdet_cgd.ops.cgd_triton)' if reason is None
                              else reason)


@pytest.fixture(scope='session')
def cgd_reference():
    """``f(layer, x)``: the explicit C x C computation with ``layer``'s parameters."""

    def run(layer, x):
        return explicit_cgd(x, layer.w0, layer.w1, layer.w2, layer.bias0, layer.bias1,
                            layer.bias2)

    return run


class RunsCode:
    """Unpickling this runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.fixture
def malicious_checkpoint(tmp_path):
    """``(path, marker)``: a checkpoint-shaped file whose unpickling would create ``marker``."""
    marker, path = tmp_path / 'pwned', tmp_path / 'evil.pth'
    torch.save(dict(state_dict={'w': torch.zeros(1)}, meta=RunsCode(marker)), path)
    return path, marker


@pytest.fixture(scope='session')
def tiny_coco(tmp_path_factory):
    """8 train and 4 val images of the embedded synthetic dataset."""
    root = tmp_path_factory.mktemp('tiny_coco')
    return write_dataset(root, SyntheticSpec(8, image_size=128, seed=0),
                         SyntheticSpec(4, image_size=128, seed=1))
