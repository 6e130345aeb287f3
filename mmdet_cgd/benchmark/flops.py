"""FLOPs per image with mmengine's FlopAnalyzer (jit trace; inference path).

Its default handles count conv, matmul, linear and the norms. CGD and the attention blocks also
spend elementwise work that it skips, so we count one FLOP per input element of mean, amax, mul,
softmax and sigmoid too, the same way for every variant.
"""
from functools import partial

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import elementwise_flop_counter
from mmdet.testing import demo_mm_inputs

ELEMENTWISE = ('aten::mean', 'aten::amax', 'aten::mul', 'aten::softmax', 'aten::sigmoid')


def count_flops(model: str, net: torch.nn.Module, size) -> int:
    h, w = size
    net.eval()
    if model == 'backbone':
        inputs = (torch.randn(1, 3, h, w), )
        forward_net = net
    else:
        packed = demo_mm_inputs(1, [[3, h, w]], num_classes=80)
        data = net.data_preprocessor(packed, training=False)
        forward_net = _TensorForward(net, data['data_samples'])
        inputs = (data['inputs'], )
    analyzer = FlopAnalyzer(forward_net, inputs)
    analyzer.set_op_handle(**{op: elementwise_flop_counter(1, 0) for op in ELEMENTWISE})
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(analyzer.total())


class _TensorForward(torch.nn.Module):
    """A detector's ``mode='tensor'`` forward with fixed data samples, as mmdet's get_flops."""

    def __init__(self, detector, data_samples):
        super().__init__()
        self.detector = detector
        self.forward_fn = partial(detector.forward, data_samples=data_samples, mode='tensor')

    def forward(self, inputs):
        return self.forward_fn(inputs)
