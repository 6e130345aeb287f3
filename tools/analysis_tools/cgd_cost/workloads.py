"""What is timed: a model's inference forward and one training forward + backward, in float32
or under autocast (``amp``), eager or compiled."""
import contextlib
import logging
from typing import Callable, Optional, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from mmengine.logging import MMLogger

import mmdet_cgd  # noqa: F401

from .variants import backbone_cfg, detector_cfg


def build(model: str, variant: str, device: str, share_plain_weights: bool = True,
          compile_backend: Optional[str] = None) -> torch.nn.Module:
    """The variant with the same weights as the plain model wherever they share a name
    (``share_plain_weights``), and CGD at identity init: the detectors then propose the same
    boxes and time the same head work (GCNet's and Non-local's blocks also start as the
    identity). ``compile_backend``: the backbone under ``torch.compile`` with that backend (a
    detector's heads stay eager: their data-dependent proposals would recompile each step)."""
    register_all_modules()

    def make(v):
        torch.manual_seed(0)
        net = MODELS.build(backbone_cfg(v) if model == 'backbone' else detector_cfg(v, model))
        with init_logs_off():
            net.init_weights()
        return net

    net = make(variant)
    if share_plain_weights and variant != 'plain':
        net.load_state_dict(make('plain').state_dict(), strict=False)
    net = net.to(device)
    if compile_backend:
        if model == 'backbone':
            net = torch.compile(net, backend=compile_backend)
        else:
            net.backbone = torch.compile(net.backbone, backend=compile_backend)
    return net


def autocast(device: str, amp: Optional[str]):
    """``torch.autocast`` to ``amp`` ('float16', 'bfloat16') on ``device``'s type; None: off."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, amp))


@contextlib.contextmanager
def init_logs_off():
    """Mute mmengine's current logger below WARNING: ``init_weights`` logs one INFO line per
    parameter (thousands per ResNet-50) where no log file takes them."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def workloads(model: str, net: torch.nn.Module, size, batch: int, device: str,
              amp: Optional[str] = None) -> Tuple[Callable, Callable]:
    """``(forward, forward_backward)`` closures for ``net`` at ``batch`` x 3 x H x W; with
    ``amp``, both run under autocast (a loss scaler's multiply would add one scalar op: left
    out)."""
    h, w = size
    if model == 'backbone':
        x = torch.randn(batch, 3, h, w, device=device)

        def forward():
            net.eval()
            with torch.no_grad(), autocast(device, amp):
                net(x)

        def forward_backward():
            net.train()
            net.zero_grad(set_to_none=True)
            with autocast(device, amp):
                loss = sum(o.float().mean() for o in net(x))
            loss.backward()

        return forward, forward_backward

    torch.manual_seed(0)
    packed = demo_mm_inputs(batch, [[3, h, w]] * batch, num_items=[5] * batch, num_classes=80,
                            with_mask=model == 'mask_rcnn', device=device)
    train_data = net.data_preprocessor(packed, training=True)
    test_data = net.data_preprocessor(packed, training=False)

    def forward():
        net.eval()
        with torch.no_grad(), autocast(device, amp):
            net(**test_data, mode='predict')

    def forward_backward():
        net.train()
        net.zero_grad(set_to_none=True)
        with autocast(device, amp):
            loss, _ = net.parse_losses(net(**train_data, mode='loss'))
        loss.backward()

    return forward, forward_backward
