"""CGD-ResNet-50 in the paper's placement, a few training steps under mixed precision: float16
with mmengine's AmpOptimWrapper (dynamic loss scaling, what ``--amp`` selects) and bfloat16.
Passes when every loss is finite, the last step's gradients are finite after unscaling, and
CGD's gradients are not all zero (``zero_init_residual=False``: mmdet's default zeroes them)."""
import math
import time

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from .record import Skip


def model(device: str) -> nn.Module:
    from mmdet_cgd.models import CGDResNet
    torch.manual_seed(0)
    backbone = CGDResNet(depth=50, norm_eval=False, zero_init_residual=False, init_cfg=None,
                         plugins=[dict(cfg=dict(type='CGD', inplace=True),
                                       position='before_norm1')])
    return nn.ModuleDict(dict(backbone=backbone, head=nn.Linear(2048, 10))).to(device)


def train_steps(device: str, tiny: bool, dtype: str) -> dict:
    cuda = device.startswith('cuda')
    if dtype == 'float16' and not cuda:
        raise Skip("mmengine's AmpOptimWrapper (float16 with loss scaling) needs CUDA")
    if cuda and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    net = model(device).train()
    sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    if cuda:
        wrapper = AmpOptimWrapper(optimizer=sgd, loss_scale='dynamic', dtype=dtype)
    else:  # bfloat16 autocast on CPU, no scaler: what a CPU can run of the same step
        wrapper = OptimWrapper(optimizer=sgd)
    batch, h, w = (1, 64, 64) if tiny else (2, 800, 1216)
    steps = 2 if tiny else 5
    gen = torch.Generator().manual_seed(0)
    losses, start = [], time.perf_counter()
    for step in range(steps):
        x = torch.randn(batch, 3, h, w, generator=gen).to(device)
        labels = torch.randint(0, 10, (batch, ), generator=gen).to(device)
        context = (wrapper.optim_context(net) if cuda else
                   torch.autocast('cpu', dtype=torch.bfloat16))
        with context:
            logits = net['head'](net['backbone'](x)[-1].mean((2, 3)))
            loss = nn.functional.cross_entropy(logits.float(), labels)
        losses.append(loss.item())
        wrapper.backward(loss)
        if step == steps - 1:
            if cuda:
                wrapper.loss_scaler.unscale_(sgd)
            grads = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
            bad = [n for n, g in grads.items() if not torch.isfinite(g).all()]
            cgd_norm = math.sqrt(sum(g.float().pow(2).sum().item() for n, g in grads.items()
                                     if '.cgd.' in n))
        wrapper.step()
        wrapper.zero_grad()
    seconds = time.perf_counter() - start
    if not all(math.isfinite(v) for v in losses):
        raise AssertionError(f'non-finite loss: {losses}')
    if bad:
        raise AssertionError(f'{len(bad)} non-finite gradients after unscaling, e.g. {bad[0]}')
    if cgd_norm == 0:
        raise AssertionError('every CGD gradient is zero')
    scale = wrapper.loss_scaler.get_scale() if cuda else None
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    return dict(summary=f'{steps} steps at {batch}x3x{h}x{w}, losses '
                        f'{", ".join(f"{v:.3f}" for v in losses)}, CGD grad norm '
                        f'{cgd_norm:.2e}' + (f', loss scale {scale:g}, peak {peak:.0f} MiB'
                                             if cuda else ', CPU autocast, no scaler'),
                losses=losses, cgd_grad_norm=cgd_norm, loss_scale=scale, peak_mib=peak,
                seconds=seconds)
