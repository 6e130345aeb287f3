import pytest


@pytest.fixture(params=['torch default', 'restricted pickle'])
def loader(request, monkeypatch):
    """A test through both paths of ``load_checkpoint_file``: the one this torch takes by
    default, and ``restricted_pickle`` (the default before torch 2.6), forced."""
    if request.param == 'restricted pickle':
        monkeypatch.setattr('mmdet_cgd.checkpoint.loading.TORCH_HAS_ALLOW_LIST', False)
    return request.param
