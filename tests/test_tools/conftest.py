import pytest

from mmdet_cgd.datasets import SyntheticSpec, write_dataset


@pytest.fixture(scope='session')
def tiny_coco(tmp_path_factory):
    """8 train and 4 val images of the embedded synthetic dataset."""
    root = tmp_path_factory.mktemp('tiny_coco')
    return write_dataset(root, SyntheticSpec(8, image_size=128, seed=0),
                         SyntheticSpec(4, image_size=128, seed=1))
