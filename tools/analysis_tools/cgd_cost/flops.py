"""FLOPs per image with mmengine's FlopAnalyzer (jit trace; inference path).

Its default handles count conv, matmul, linear and the norms. CGD and the attention blocks also
spend elementwise work that it skips, so we count one FLOP per input element of mean, amax,
mul (in place too), softmax and sigmoid, the same way for every variant.
"""
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import elementwise_flop_counter

ELEMENTWISE = ('aten::mean', 'aten::amax', 'aten::mul', 'aten::mul_', 'aten::softmax',
               'aten::sigmoid')


def count_flops(model: str, net: torch.nn.Module, size) -> int:
    """FLOPs of one 3 x H x W image through ``net`` (a detector: its backbone and neck)."""
    h, w = size
    net.eval()
    inputs = (torch.randn(1, 3, h, w, device=next(net.parameters()).device), )
    # detector: backbone + FPN only; the heads are the same for every variant and their cost
    # depends on how many boxes a randomly initialised RPN proposes
    forward_net = net if model == 'backbone' else _ExtractFeat(net)
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
