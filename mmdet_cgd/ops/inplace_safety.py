"""Whether CGD may scale a tensor in place: only where autograd keeps no other copy of it.

Scaling ``x`` in place is right after a conv (which keeps its input and weight, not its output)
and wrong after a ReLU, sigmoid or any op that keeps its output for backward. Autograd would
notice only at backward (its version counter), and under activation checkpointing not at all:
the recomputed producer keeps the scaled tensor and its gradient comes out silently wrong. So the
producer is inspected at forward, from what its autograd node saved.
"""
import torch

from mmdet_cgd.utils.errors import CGDConfigError
from mmdet_cgd.utils.torch_compat import is_compiling


def check_inplace_is_safe(x: torch.Tensor) -> None:
    """Raise ``CGDConfigError`` if scaling ``x`` in place would corrupt what backward needs.

    Catches what the producing node (and, for a view, its base's producer) saved of ``x``. A later
    consumer of ``x`` that saved it, or one that modifies CGD's output in place, cannot be seen
    here: autograd raises for those at backward (its version counter).
    """
    if not x.requires_grad or x.numel() == 0 or is_compiling():
        return
    if x.device.type == 'meta':  # no data to corrupt, and every meta tensor shares address 0
        return
    if x.grad_fn is None:
        raise CGDConfigError(
            'CGD(inplace=True) got a leaf tensor that requires grad, which autograd cannot modify '
            'in place; use inplace=False')
    for tensor in (x, x._base):
        if tensor is not None and tensor.grad_fn is not None:
            saved = saved_copy_of(tensor.grad_fn, x, tensor.output_nr)
            if saved:
                raise CGDConfigError(
                    'CGD(inplace=True) got a tensor whose producer '
                    f'{type(tensor.grad_fn).__name__} keeps it for backward ({saved}); scaling it '
                    'in place would corrupt that gradient. inplace=True must follow a conv '
                    'directly (as at before_norm1); use inplace=False anywhere else')


def saved_copy_of(node, x: torch.Tensor, output_nr: int) -> str:
    """The name under which autograd ``node`` saved memory of ``x`` ('' if none).

    Saved tensors are compared by storage where autograd shows them. Where it does not (under
    saved-tensor hooks: activation checkpointing, offloading; and on torch < 2.2, whose
    ``SavedTensor`` exposes no ``data``), a node's own output, which derivatives.yaml names
    ``result``/``result<k>``, counts as kept: that is what a ReLU, sigmoid or any op keeping its
    output saves. What such a node saves under another name, or a Python autograd.Function
    keeps, cannot be seen there: autograd's version counter remains the check at backward.
    """
    own_output = {'_raw_saved_result', f'_raw_saved_result{output_nr}'}
    storage = x.untyped_storage().data_ptr()
    for name in dir(node):
        if not name.startswith('_raw_saved_'):
            continue
        try:
            raw = getattr(node, name)
        except RuntimeError:  # already freed by an earlier backward
            continue
        for item in raw if isinstance(raw, (tuple, list)) else (raw, ):
            data = getattr(item, 'data', None)
            if isinstance(data, torch.Tensor):
                if data.device == x.device and data.untyped_storage().data_ptr() == storage:
                    return name[len('_raw'):]
            elif name in own_output:  # opaque: compared by name
                return name[len('_raw'):]
    return ''
