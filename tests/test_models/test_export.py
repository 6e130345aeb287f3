"""CGD and a CGD ResNet-50 export to ONNX and TorchScript with outputs matching PyTorch's."""
import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch_support import onnx_export_kwargs

from mmdet_cgd.models import CGD, CGDResNet


def onnx_outputs(model, x, **export_kwargs):
    buffer = io.BytesIO()
    torch.onnx.export(model, (x, ), buffer, input_names=['x'], **onnx_export_kwargs(),
                      **export_kwargs)
    session = ort.InferenceSession(buffer.getvalue(), providers=['CPUExecutionProvider'])
    return session.run(None, {'x': x.numpy()})


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


def test_cgd_resnet50_to_onnx(cgd_resnet50):
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        expected = cgd_resnet50(x)
    outs = onnx_outputs(cgd_resnet50, x)
    assert len(outs) == 4
    for got, ref in zip(outs, expected):
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-4)


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
