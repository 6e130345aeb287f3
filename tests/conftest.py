import os

import pytest
import torch

from mmdet_cgd.testing import SyntheticSpec, explicit_cgd, write_dataset


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
