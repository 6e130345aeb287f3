"""FLOPs per image with mmengine's FlopAnalyzer (jit trace; inference path).

Its default handles count conv, matmul, linear and the norms. CGD and the attention blocks also
spend elementwise work that it skips, so we count one FLOP per input element of mean, amax, mul,
softmax and sigmoid too, the same way for every variant.
"""
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import elementwise_flop_counter

ELEMENTWISE = ('aten::mean', 'aten::amax', 'aten::mul', 'aten::softmax', 'aten::sigmoid')


def count_flops(model: str, net: torch.nn.Module, size) -> int:
    h, w = size
    net.eval()
    if model == 'backbone':
        inputs = (torch.randn(1, 3, h, w), )
        forward_net = net
    else:  # backbone + FPN: the heads are the same for every variant and their cost depends on
        # how many boxes a randomly initialised RPN proposes
        forward_net = _ExtractFeat(net)
        inputs = (torch.randn(1, 3, h, w), )
    analyzer = FlopAnalyzer(forward_net, inputs)
    analyzer.set_op_handle(**{op: elementwise_flop_counter(1, 0) for op in ELEMENTWISE})
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(analyzer.total())


class _ExtractFeat(torch.nn.Module):

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, inputs):
        return self.detector.extract_feat(inputs)
