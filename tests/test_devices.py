"""A CGD backbone and one detector training step on every device of the ``device`` fixture
(``pytest -m devices -k cuda`` on a GPU machine): CGD's Triton path wherever it runs (on CPU
tensors through Triton's interpreter), checked against its PyTorch path, which
``MMDET_CGD_BACKEND=pytorch`` selects."""
from pathlib import Path

import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet_cgd.models import CGDResNet
from mmdet_cgd.ops import cgd_triton

DEMO_CONFIG = Path(__file__).parents[1] / 'configs' / 'demo' / 'mask-rcnn_r18-cgd_fpn_synthetic.py'


def counted_launches(monkeypatch) -> list:
    """Grows by one for each Triton kernel launched from now on."""
    launches, eager = [], cgd_triton.Launch.eager
    monkeypatch.setattr(cgd_triton.Launch, 'eager',
                        lambda launch, *args: launches.append(1) or eager(launch, *args))
    return launches


def triton_expected(device) -> bool:
    return (cgd_triton.triton_unavailable_reason() is None
            and torch.device(device).type in cgd_triton.TRITON_DEVICES)


def test_a_cgd_resnet_training_step_matches_the_pytorch_path(triton_on, monkeypatch):
    torch.manual_seed(0)
    model = CGDResNet(depth=18, base_channels=16, plugins=[
        dict(cfg=dict(type='CGD', inplace=True), position='before_norm1')]).to(triton_on)
    with torch.no_grad():  # attention far from its initial identity
        for name, p in model.named_parameters():
            if '.cgd.' in name:
                p.add_(0.5 * torch.randn_like(p))
    model.train()
    x = torch.randn(2, 3, 32, 32, device=triton_on)
    weights = [torch.randn_like(o) for o in model(x)]

    def step():
        model.zero_grad(set_to_none=True)
        outs = model(x)
        sum((o * w).sum() for o, w in zip(outs, weights)).backward()
        return [*outs, *(p.grad for n, p in model.named_parameters() if '.cgd.' in n)]

    launches = counted_launches(monkeypatch)
    got = step()
    assert bool(launches) == triton_expected(triton_on)
    monkeypatch.setenv('MMDET_CGD_BACKEND', 'pytorch')
    launches.clear()
    expected = step()
    assert not launches and len(got) == 4 + 8 * 6
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-3, atol=1e-4 * e.abs().max().item())


def test_one_detector_training_step(triton_on, monkeypatch):
    """The demo's Mask R-CNN (slim CGD-ResNet-18) takes one loss and backward."""
    register_all_modules()
    cfg = Config.fromfile(str(DEMO_CONFIG))
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(triton_on)
    model.train()
    launches = counted_launches(monkeypatch)
    packed = demo_mm_inputs(2, [[3, 64, 64], [3, 64, 96]], num_classes=5, with_mask=True)
    loss, _ = model.parse_losses(model(**model.data_preprocessor(packed, training=True),
                                       mode='loss'))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for n, p in model.named_parameters() if '.cgd.' in n]
    assert len(grads) == 8 * 6 and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert bool(launches) == triton_expected(triton_on)
