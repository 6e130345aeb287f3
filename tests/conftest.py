import os

import pytest
import torch

from mmdet_cgd.testing import SyntheticSpec, write_dataset


def explicit_cgd(x, w0, w1, w2, b0, b1, b2):
    """CGD exactly as the equations are written: explicit C x C matrices, one sample at a time.

    psi = tanh(s a^T w0 + b0), phi = tanh(s m^T w1 + b1), att = tanh(psi phi^T w2 + b2),
    out = X (1 + att), with a/m the spatial mean/max and s = softmax(a). Vectors are C x 1 columns.
    """
    outs = []
    for sample in x:
        c = sample.shape[0]
        a = sample.mean(dim=(1, 2)).reshape(c, 1)
        m = sample.amax(dim=(1, 2)).reshape(c, 1)
        s = torch.softmax(a, dim=0)
        psi = torch.tanh((s @ a.T) @ w0.reshape(c, 1) + b0.reshape(c, 1))
        phi = torch.tanh((s @ m.T) @ w1.reshape(c, 1) + b1.reshape(c, 1))
        att = torch.tanh((psi @ phi.T) @ w2.reshape(c, 1) + b2.reshape(c, 1))
        outs.append(sample * (1 + att.reshape(c, 1, 1)))
    return torch.stack(outs)


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
