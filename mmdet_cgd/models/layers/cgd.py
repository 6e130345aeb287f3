"""The CGD layer: "Compact Global Descriptor for Neural Networks", arXiv 1907.09665.

The cascaded ("final") scheme, per sample, with a = avg_pool(X), m = max_pool(X), s = softmax(a):

    psi = tanh(s a^T w0 + b0)      phi = tanh(s m^T w1 + b1)      att = tanh(psi phi^T w2 + b2)
    CGD(X) = X * (1 + att)

Each C x C product times a C-vector collapses by associativity, (s a^T) w0 = s * (a . w0), so the
attention costs O(C) per sample once the two poolings are done. The equations are written once,
in ``mmdet_cgd.ops.attention_terms``; ``forward_plain`` below is the readable reference path,
and eager calls go through ``mmdet_cgd.ops.cgd`` (the Triton or the PyTorch path).
"""
from typing import Optional

import numpy as np
import torch
from mmengine.registry import MODELS
from torch import nn

from mmdet_cgd.ops import attention_dtype, cgd, checked_backend, scale_by_attention
from mmdet_cgd.utils.errors import CGDConfigError


def checked_bool(value, name: str) -> bool:
    """``value`` as a bool if it is one (a numpy bool too); else a ``CGDConfigError`` naming
    the option: a string such as 'False' is true to Python, and 1 is no answer."""
    if not isinstance(value, (bool, np.bool_)):
        raise CGDConfigError(f'CGD: {name} must be True or False, got {value!r} '
                             f'({type(value).__name__})')
    return bool(value)


@MODELS.register_module()
class CGD(nn.Module):
    """CGD attention layer: 6 x ``in_channels`` parameters, output shaped like its input.

    Registered in mmengine's root ``MODELS`` (as mmcv's plugins are), so ``dict(type='CGD')``
    builds in mmdet and in any other OpenMMLab package's child registry.

    Args:
        in_channels: channels of the input, as ``build_plugin_layer`` passes them.
        identity_init: start as the exact identity (``w2 = b2 = 0``, so ``att = 0``) instead of the
            authors' Xavier-uniform init, for inserting CGD into a pretrained network.
        inplace: scale the input tensor in place instead of allocating the output, like
            ``nn.ReLU(inplace=True)``; training then keeps the output instead of the input, so
            no second activation is kept. Only for a CGD directly after a conv (``before_norm1``,
            the paper's placement): where the input's producer keeps its output for backward
            (a ReLU, as in stock ``after_conv1``) training raises ``CGDConfigError`` at forward.
            A consumer that modifies the output in place (``out += identity`` at
            ``after_conv3``) can only be caught by autograd at backward (its version counter).
            With ``inplace=False`` (default) CGD is correct wherever it sits, whatever later
            modifies its output.
        backend: ``'auto'`` (default): the Triton kernels where they run (CUDA, torch >= 2.6),
            PyTorch's operators elsewhere; ``'pytorch'``: PyTorch's operators everywhere. The
            environment variable ``MMDET_CGD_BACKEND=pytorch``, read at every call, forces
            ``'pytorch'`` on every CGD layer without editing a config.

    Parameters keep the authors' names and shapes (``w*``: C x 1, ``bias*``: 1 x C x 1 x 1), so
    their checkpoints load by name.

    ``forward`` runs ``mmdet_cgd.ops.cgd`` (a fused ``autograd.Function`` when autograd
    records: same values, leaner backward); when scripted, traced or exported, ``forward_plain``.
    """

    _abbr_ = 'cgd'

    def __init__(self, in_channels: Optional[int] = None, identity_init: bool = False,
                 inplace: bool = False, backend: str = 'auto'):
        super().__init__()
        if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
            raise ValueError(
                f'CGD: in_channels must be a positive int (the channels of its input), got '
                f'{in_channels!r}; ResNet plugins= passes it, a direct build needs in_channels=')
        self.in_channels = in_channels
        self.identity_init = checked_bool(identity_init, 'identity_init')
        self.inplace = checked_bool(inplace, 'inplace')
        self.backend = checked_backend(backend, 'CGD: backend')
        for i in range(3):
            self.register_parameter(f'w{i}', nn.Parameter(torch.empty(in_channels, 1)))
            self.register_parameter(f'bias{i}', nn.Parameter(torch.empty(1, in_channels, 1, 1)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Authors' init: Xavier-uniform on each w (as a C x 1 matrix), zero biases."""
        for w in (self.w0, self.w1, self.w2):
            nn.init.xavier_uniform_(w)
        for b in (self.bias0, self.bias1, self.bias2):
            nn.init.zeros_(b)
        if self.identity_init:
            nn.init.zeros_(self.w2)  # att = tanh(psi * 0 + 0) = 0, while w2 still gets gradient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f'CGD expects a 4-D (N, C, H, W) tensor, got {x.dim()}-D with shape '
                             f'{list(x.shape)}')
        channels = x.shape[1]  # a traced value while tracing: compared only where it is an int
        if isinstance(channels, int) and channels != self.in_channels:
            raise ValueError(f'CGD built with in_channels={self.in_channels} got an input with '
                             f'{channels} channels (shape {list(x.shape)}); as a plugin of '
                             "mmdet's Res2Net (which builds plugins for planes, not its blocks' "
                             "width * scales) use type='CGDRes2Net'")
        if torch.jit.is_scripting() or self._traced_or_exported():
            return self.forward_plain(x)
        return self._forward_eager(x)

    @torch.jit.unused
    def _traced_or_exported(self) -> bool:
        return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()

    @torch.jit.unused
    def _forward_eager(self, x: torch.Tensor) -> torch.Tensor:
        return cgd(x, self.inplace, *self.parameters_in_order(), backend=self.backend)

    def forward_plain(self, x: torch.Tensor) -> torch.Tensor:
        """The equations as written, autograd doing the rest: the readable reference path."""
        # The small vectors are computed in at least float32, also for float16/bfloat16 inputs.
        dtype = attention_dtype(x.dtype)
        mean, peak = x.mean((2, 3), dtype=dtype), x.amax((2, 3)).to(dtype)
        return scale_by_attention(x, mean, peak, self.parameters_in_order(), self.inplace)

    def parameters_in_order(self):
        """``w0, w1, w2, bias0, bias1, bias2``, the order ``cgd`` and ``packed_parameters`` take."""
        return self.w0, self.w1, self.w2, self.bias0, self.bias1, self.bias2

    def extra_repr(self) -> str:
        return (f'in_channels={self.in_channels}, identity_init={self.identity_init}, '
                f'inplace={self.inplace}, backend={self.backend!r}')
