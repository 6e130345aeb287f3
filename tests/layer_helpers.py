"""A CGD layer as training leaves it, one training step of it, and CGD exactly as its equations
are written (explicit C x C matrices, one sample at a time, nothing from ``mmdet_cgd.ops``): the
independent reference of the layer's and the backbones' tests."""
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


def explicit_cgd(x, w0, w1, w2, b0, b1, b2):
    """psi = tanh(s a^T w0 + b0), phi = tanh(s m^T w1 + b1), att = tanh(psi phi^T w2 + b2),
    out = X (1 + att), with a / m the spatial mean / max and s = softmax(a); vectors are C x 1
    columns."""
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
