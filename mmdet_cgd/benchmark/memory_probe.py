"""Child process: peak memory of one training step of one variant, printed as JSON."""
import json
import sys

import torch

from .measure import peak_step_memory
from .workloads import build, workloads


def main(model, variant, h, w, batch, device):
    torch.manual_seed(0)
    net = build(model, variant, device)
    _, forward_backward = workloads(model, net, (int(h), int(w)), int(batch), device)
    print(json.dumps(dict(peak_bytes=peak_step_memory(forward_backward, device))))


if __name__ == '__main__':
    main(*sys.argv[1:])
