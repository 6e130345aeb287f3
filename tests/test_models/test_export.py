"""CGD, CGD backbones and a CGD detector's feature extractor export to ONNX (both of torch's
exporters) and TorchScript, with onnxruntime's outputs matching PyTorch's.

torch >= 2.9's ``torch.onnx.export`` defaults to the torch.export-based ("dynamo") exporter, which
needs ``onnxscript``; ``dynamo=False`` selects the TorchScript one. Tolerances: the ONNX graphs
compute the same float32 operations in another order; measured differences are ~1e-6 of the
outputs' scale, asserted below 1e-4 (relative) plus 1e-4 x the largest output (absolute).
"""
import inspect
import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from mmengine.config import Config
from tool_helpers import DEMO_CONFIG
from torch_support import onnx_export_kwargs

from mmdet_cgd.models import CGD, CGDResNet

HAS_DYNAMO_EXPORTER = 'dynamo' in inspect.signature(torch.onnx.export).parameters
EXPORTERS = [
    'torchscript',
    pytest.param('dynamo', marks=pytest.mark.skipif(
        not HAS_DYNAMO_EXPORTER, reason=f"torch {torch.__version__}'s torch.onnx.export has no "
        'dynamo= (the torch.export-based exporter)')),
]


def onnx_outputs(model, x, **export_kwargs):
    buffer = io.BytesIO()
    torch.onnx.export(model, (x, ), buffer, input_names=['x'], **onnx_export_kwargs(),
                      **export_kwargs)
    return run_onnx(buffer.getvalue(), x)


def run_onnx(model, x: torch.Tensor):
    """``model``: the ONNX file's bytes, or its path (the dynamo exporter may write the weights
    beside it, in ``<path>.data``)."""
    session = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})


def export_with(exporter: str, model, x, path) -> str:
    """The file ``torch.onnx.export`` writes with the named exporter, as a user calls it, at the
    opset each writes best: the dynamo exporter writes 18 (asked for less, it converts down, which
    fails for ReduceMean: the file stays at 18); torch 2.1's TorchScript exporter writes an invalid
    ReduceMean at 18 (``axes`` as an attribute), so 17 there."""
    dynamo = exporter == 'dynamo'
    torch.onnx.export(model, (x, ), str(path), opset_version=18 if dynamo else 17,
                      **({'dynamo': dynamo} if HAS_DYNAMO_EXPORTER else {}))
    return str(path)


def assert_outputs_match(got, expected):
    assert len(got) == len(expected)
    for out, ref in zip(got, expected):
        ref = ref.numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def cgd_layer():
    torch.manual_seed(0)
    layer = CGD(8).eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer


def test_cgd_layer_to_onnx_with_dynamic_batch_and_size():
    layer = cgd_layer()
    x = torch.randn(2, 8, 5, 7)
    [out] = onnx_outputs(layer, x, dynamic_axes={'x': {0: 'n', 2: 'h', 3: 'w'}})
    np.testing.assert_allclose(out, layer(x).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_cgd_layer_to_torchscript_by_scripting():
    layer = cgd_layer()
    scripted = torch.jit.script(layer)
    for shape in [(2, 8, 5, 7), (1, 8, 1, 1)]:
        x = torch.randn(shape)
        # float32 defaults: eager CGD pools with the one-read op, whose sums may differ in the
        # last bit from the scripted torch.mean
        torch.testing.assert_close(scripted(x), layer(x))
    with pytest.raises(Exception, match='in_channels=8 got an input with 3 channels'):
        scripted(torch.randn(1, 3, 4, 4))


@pytest.fixture(scope='module')
def cgd_resnet50():
    torch.manual_seed(0)
    model = CGDResNet(depth=50, plugins=[dict(cfg=dict(type='CGD'), position='before_norm1')])
    model.init_weights()
    return model.eval()


def test_cgd_resnet50_to_onnx(cgd_resnet50, tmp_path):
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        expected = cgd_resnet50(x)
    outs = run_onnx(export_with('torchscript', cgd_resnet50, x, tmp_path / 'bb.onnx'), x)
    assert len(outs) == 4
    assert_outputs_match(outs, expected)


def test_the_default_exporter_with_opset_17_as_the_issue_calls_it(tmp_path):
    """``torch.onnx.export(backbone, x, 'bb.onnx', opset_version=17)``: the dynamo exporter on
    torch >= 2.9 (its file at opset 18, see ``export_with``), the TorchScript one before."""
    torch.manual_seed(0)
    backbone = CGDResNet(depth=18, plugins=[dict(cfg=dict(type='CGD'),
                                                 position='before_norm1')]).eval()
    x = torch.randn(1, 3, 64, 96)
    path = tmp_path / 'bb.onnx'
    torch.onnx.export(backbone, x, str(path), opset_version=17)
    with torch.no_grad():
        assert_outputs_match(run_onnx(str(path), x), backbone(x))


@pytest.fixture(scope='module')
def cgd_detector():
    """The demo's CGD Mask R-CNN (no pretrained weights), with CGD built ``inplace=True``."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(DEMO_CONFIG).model).eval()


class FeatureExtractor(torch.nn.Module):
    """A detector's ``extract_feat`` (backbone + neck) as a module's ``forward``, for export."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, x):
        return self.detector.extract_feat(x)


@pytest.mark.parametrize('exporter', EXPORTERS)
def test_cgd_detector_features_to_onnx(cgd_detector, exporter, tmp_path):
    extractor = FeatureExtractor(cgd_detector).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        expected = extractor(x)
    outs = run_onnx(export_with(exporter, extractor, x, tmp_path / 'feat.onnx'), x)
    assert len(outs) == 5  # FPN levels P2-P6
    assert_outputs_match(outs, expected)


def test_cgd_resnet50_to_torchscript_by_tracing(cgd_resnet50, tmp_path):
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        traced = torch.jit.trace(cgd_resnet50, (x, ))
    traced.save(str(tmp_path / 'cgd_r50.pt'))
    loaded = torch.jit.load(str(tmp_path / 'cgd_r50.pt'))
    other = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        for got, ref in zip(loaded(other), cgd_resnet50(other)):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
