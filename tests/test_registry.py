"""The mmdet_cgd registry scope: what a config read through `mmdet_cgd::` names (mmengine scopes
its types to mmdet_cgd) resolves to mmdet's and mmengine's types and ours, while our types still
build from mmdet's scope as before (#26)."""
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import DATASETS, HOOKS, MODELS, TRANSFORMS

from mmdet_cgd.models import CGD, CGDMobileNet, CGDResNet

SCOPE = 'mmdet_cgd'  # what mmengine scopes an `mmdet_cgd::` config's types to


def test_mmdets_types_build_in_our_scope():
    """The lookups that failed from an `mmdet_cgd::` SSD config (issue #26, case 2)."""
    hook = HOOKS.build(dict(type='NumClassCheckHook', _scope_=SCOPE))
    assert type(hook).__module__.startswith('mmdet.')
    resize = TRANSFORMS.build(dict(type='Resize', scale=(8, 8), _scope_=SCOPE))
    assert type(resize).__module__.startswith('mmdet.')
    with DATASETS.switch_scope_and_registry(SCOPE) as registry:
        assert registry.scope == SCOPE
        assert registry.get('CocoDataset').__module__.startswith('mmdet.')


def test_our_types_build_in_our_scope_and_still_in_mmdets():
    cgd = dict(type='CGD', in_channels=4)
    assert isinstance(MODELS.build(dict(cgd, _scope_=SCOPE)), CGD)
    assert isinstance(MODELS.build(dict(cgd, _scope_='mmdet')), CGD)
    assert isinstance(MMDET_MODELS.build(cgd), CGD)
    for scope in (SCOPE, 'mmdet'):
        assert isinstance(MODELS.build(dict(type='CGDResNet', depth=18, _scope_=scope)),
                          CGDResNet)
        assert isinstance(MODELS.build(dict(type='CGDMobileNet', _scope_=scope)), CGDMobileNet)
    with HOOKS.switch_scope_and_registry(SCOPE) as registry:
        assert registry.get('FiniteTrainingHook') is HOOKS.get('FiniteTrainingHook')

