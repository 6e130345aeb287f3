"""The CGD layer alone against the memory-bandwidth bound of what it must do to its input.

CGD must read X once to pool it and read it again, writing the output, to scale it: the bound is
the time of one read pass (``x.sum()``) plus one read-and-write pass (``torch.mul(x, v, out=y)``)
over the same tensor, measured in the same run.
"""
from typing import Dict

import torch

from mmdet_cgd.models.layers import CGD
from .measure import interleaved_medians


def cgd_vs_bandwidth(shape, repeats: int, warmup: int, device: str) -> Dict[str, float]:
    torch.manual_seed(0)
    x = torch.randn(shape, device=device)
    layer = CGD(shape[1]).to(device)
    inplace_layer = CGD(shape[1], inplace=True).to(device)
    x_scratch = x.clone()
    scale = torch.randn(shape[0], shape[1], 1, 1, device=device)
    out = torch.empty_like(x)
    x_train = x.clone().requires_grad_()

    def inference():
        with torch.no_grad():
            layer(x)

    def inference_inplace():
        with torch.no_grad():
            inplace_layer(x_scratch)  # values drift over the rounds; the passes do not

    def training_forward():
        layer(x_train)  # fused path, the graph is dropped at once

    fns = {
        'read pass: x.sum()': lambda: x.sum(),
        'read+write pass: torch.mul(x, v, out=y)': lambda: torch.mul(x, scale, out=out),
        'x.mean((2, 3))': lambda: x.mean((2, 3)),
        'x.amax((2, 3))': lambda: x.amax((2, 3)),
        'x.flatten(2).max(2)': lambda: x.flatten(2).max(2),
        'CGD forward, inference': inference,
        'CGD forward, inference, inplace': inference_inplace,
        'CGD forward, training (fused)': training_forward,
    }
    t = interleaved_medians(fns, repeats, warmup, device)
    t['bound: read + read/write'] = (t['read pass: x.sum()'] +
                                     t['read+write pass: torch.mul(x, v, out=y)'])
    return t
