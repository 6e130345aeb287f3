"""CGD exactly as its equations are written, as an independent reference for tests and checks:
explicit C x C matrices, one sample at a time, plain autograd; nothing from ``mmdet_cgd.ops``."""
import torch


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
