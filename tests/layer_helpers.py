"""A CGD layer as training leaves it, and one training step of it, for the layer's tests."""
import torch

from mmdet_cgd.models.layers import CGD


def randomized(c, seed=0, dtype=torch.float32):
    """The authors' init plus non-zero biases and a non-zero w2 offset, in a trained-like range."""
    torch.manual_seed(seed)
    layer = CGD(c).to(dtype)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return layer


def step(layer, x, weights, plain=False):
    """Value, input gradient and the six parameter gradients of ``(layer(x) * weights).sum()``;
    x enters through ``x * 1``, a non-leaf as a conv's output is."""
    layer.zero_grad()
    x = x.detach().clone().requires_grad_()
    y = layer.forward_plain(x * 1) if plain else layer(x * 1)
    (y * weights).sum().backward()
    return [y.detach(), x.grad] + [p.grad.clone() for p in layer.parameters()]
