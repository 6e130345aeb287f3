"""CGD on the target device against a float64 CPU reference from the same weights: the output
and every gradient (input and parameters), in float32 and under autocast float16 / bfloat16.

The reference computes CGD's explicit C x C equations (``mmdet_cgd.testing.explicit_cgd``),
not ``mmdet_cgd.ops``. Error: ||got - ref|| / ||ref|| per tensor, the worst one reported. TF32 is
turned off, so float32 means float32. Tolerances (``TOLERANCES``), a few units of each dtype's
rounding: float32 1e-4 (eps 1.2e-7: room for summation order); float16 3e-2 (eps 9.8e-4) and
bfloat16 1.5e-1 (eps 7.8e-3), about 20-30 eps: the gradients of w0 and w1 are softmax-weighted
sums with cancellation, seen up to 10 eps on CPU (2 x 64 x 32 x 32 and in the tiny networks). A
wrong kernel is off by O(1).
At every position in a network, each CGD is checked on the input it saw there (a whole
low-precision network's gradients differ from float64 by 16-50% on CPU, the convolutions' and
BatchNorm's rounding, which says nothing about CGD); in float32 the whole network is checked too.
"""
import contextlib
import copy
from typing import Dict, List, Tuple

import torch
from torch import nn

from .record import Skip
from .torch_only import layer_class

TOLERANCES = {'float32': 1e-4, 'float16': 3e-2, 'bfloat16': 1.5e-1}
# A whole float32 network through training-mode BatchNorm: small gradients (CGD's w0, a sum
# with cancellation) lose more digits; seen 4.8e-4 on CPU, 1e-6 typical.
NETWORK_FLOAT32 = 2e-3
# where the float64 reference runs: the CPU, independent of the device's kernels
REFERENCE_DEVICE = 'cpu'
# (label, mmdet ResNet depth, position, inplace): every place a CGD can sit, inplace where allowed
PLACEMENTS = [('Bottleneck before_norm1', 50, 'before_norm1', False),
              ('Bottleneck before_norm1 inplace', 50, 'before_norm1', True),
              ('Bottleneck after_conv1', 50, 'after_conv1', False),
              ('Bottleneck after_conv2', 50, 'after_conv2', False),
              ('Bottleneck after_conv3', 50, 'after_conv3', False),
              ('BasicBlock before_norm1', 18, 'before_norm1', False),
              ('BasicBlock before_norm1 inplace', 18, 'before_norm1', True)]


class ExplicitCGD(nn.Module):
    """The same parameters (same names) as a ``CGD``, computed by ``explicit_cgd``."""

    def __init__(self, layer):
        super().__init__()
        for name, param in layer.named_parameters():
            self.register_parameter(name, nn.Parameter(param.detach().clone()))

    def forward(self, x):
        from mmdet_cgd.testing import explicit_cgd  # after the carried wheels are installed
        return explicit_cgd(x, self.w0, self.w1, self.w2, self.bias0, self.bias1, self.bias2)


def float64_reference(model: nn.Module) -> nn.Module:
    """A float64 copy on ``REFERENCE_DEVICE`` with every CGD (``model`` itself too) computed
    by the explicit equations."""
    from mmdet_cgd.models.layers.cgd import CGD
    reference = copy.deepcopy(model).to(REFERENCE_DEVICE).double()
    if isinstance(reference, CGD):
        return ExplicitCGD(reference)
    for module in list(reference.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, CGD):
                setattr(module, name, ExplicitCGD(child))
    return reference


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Weights away from init (CGD's attention far from 0), fixed by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if any(part.startswith('cgd') or part in ('w0', 'w1', 'w2', 'bias0',
                                                                  'bias1', 'bias2')
                               for part in name.split('.')) else 0.1
            p.add_(scale * torch.randn(p.shape, generator=gen).to(p))
    return model


def autocast(device: str, dtype: str):
    """Autocast to ``dtype`` on ``device``'s type; float32: none (any device, ``meta`` too)."""
    if dtype == 'float32':
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=getattr(torch, dtype))


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def grads(model: nn.Module, x: torch.Tensor, weights: List[torch.Tensor], dtype: str
          ) -> Dict[str, torch.Tensor]:
    """Outputs, input gradient and parameter gradients of sum(out * weight), each on the
    model's device (``x`` and ``weights`` are moved there), detached."""
    device = device_of(model)
    leaf = x.detach().to(device).clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    with autocast(device.type, dtype):
        outs = model(leaf.clone())  # a non-leaf input, as a conv output is (in-place CGD)
        outs = outs if isinstance(outs, (tuple, list)) else (outs, )
    sum((o.double() * w.to(o.device)).sum() for o, w in zip(outs, weights)).backward()
    got = {f'output {i}': o.detach() for i, o in enumerate(outs)}
    got['input grad'] = leaf.grad
    got.update({f'{n} grad': p.grad for n, p in model.named_parameters() if p.requires_grad})
    return {k: None if v is None else v.detach() for k, v in got.items()}


def worst_error(got: Dict[str, torch.Tensor], ref: Dict[str, torch.Tensor]) -> Tuple[float, str]:
    """The largest ||got - ref|| / ||ref|| over the tensors, and which tensor it was."""
    assert got.keys() == ref.keys(), sorted(set(got) ^ set(ref))
    errors = {}
    for name, r in ref.items():
        g, r = got[name], r.to('cpu', torch.float64)
        g = None if g is None else g.to('cpu', torch.float64)
        if g is None or not torch.isfinite(g).all():
            errors[name] = float('inf')
        else:
            errors[name] = ((g - r).norm() / r.norm().clamp_min(1e-30)).item()
    name = max(errors, key=errors.get)
    return errors[name], name


def gradients_of_both(model: nn.Module, x: torch.Tensor, device: str, dtype: str
                      ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """``model`` (float32 parameters) on ``device`` under ``dtype``, and its float64 reference
    on ``REFERENCE_DEVICE``: each gets ``x`` on its own device (the model in ``x``'s dtype, the
    reference as float64) and the same output weights."""
    reference = float64_reference(model)
    model = model.float().to(device)
    gen = torch.Generator().manual_seed(1)
    x_ref = x.detach().to(device_of(reference), torch.float64)
    with torch.no_grad():
        outs = reference(x_ref.clone())
        outs = outs if isinstance(outs, (tuple, list)) else (outs, )
        weights = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in outs]
    return grads(model, x, weights, dtype), grads(reference, x_ref, weights, 'float32')


def compare(model: nn.Module, x: torch.Tensor, device: str, dtype: str) -> Tuple[float, str]:
    """``model`` on ``device`` under ``dtype`` against its float64 reference (``x`` may live on
    either device: the positions check hands over what the model saw on ``device``)."""
    return worst_error(*gradients_of_both(model, x, device, dtype))


def dtypes_here(device: str) -> Tuple[List[str], Dict[str, str]]:
    """The dtypes this device can autocast to, and why any other is skipped."""
    usable, skipped = ['float32'], {}
    for dtype in ('float16', 'bfloat16'):
        try:
            with autocast(device, dtype):
                torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)
            usable.append(dtype)
        except (RuntimeError, ValueError) as error:
            skipped[dtype] = str(error).splitlines()[0]
    return usable, skipped


def setup_precision() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(False)


def table(rows: List[dict]) -> str:
    lines = ['| check | dtype | tolerance | worst relative error | in | result |',
             '| :-- | :-- | --: | --: | :-- | :-- |']
    lines += [f"| {r['check']} | {r['dtype']} | {r['tolerance']:.0e} | {r['error']:.2e} | "
              f"{r['worst']} | {'ok' if r['ok'] else '**over**'} |" for r in rows]
    return '\n'.join(lines)


def finish(rows: List[dict], skipped: Dict[str, str]) -> dict:
    markdown = table(rows)
    if skipped:
        markdown += '\n\n' + '; '.join(f'{d} skipped: {why}' for d, why in skipped.items())
    bad = [f"{r['check']} {r['dtype']}: {r['error']:.1e} in {r['worst']}" for r in rows
           if not r['ok']]
    if bad:
        raise AssertionError(f'{len(bad)} of {len(rows)} over tolerance, e.g. {bad[0]}')
    worst = {d: max(r['error'] for r in rows if r['dtype'] == d) for d in
             {r['dtype'] for r in rows}}
    return dict(summary=f'{len(rows)} comparisons within tolerance; worst ' + ', '.join(
        f'{d} {e:.1e}' for d, e in sorted(worst.items())), rows=rows, skipped=skipped,
        tolerances=TOLERANCES, markdown=markdown)


def check_layer(device: str, tiny: bool) -> dict:
    """The CGD layer alone, inplace on and off, each usable dtype; torch only (it runs while
    mmcv builds)."""
    CGD = layer_class()
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    setup_precision()
    shape = (2, 16, 9, 7) if tiny else (2, 128, 32, 48)
    dtypes, skipped = dtypes_here(device)
    rows = []
    for dtype in dtypes:
        for inplace in (False, True):
            torch.manual_seed(0)
            layer = randomize(CGD(shape[1], inplace=inplace))
            # under autocast, CGD gets the conv's output in the low dtype
            x = torch.randn(shape).to(getattr(torch, dtype))
            error, worst = compare(layer, x, device, dtype)
            rows.append(dict(check=f'CGD({shape[1]}) on {tuple(shape)}' +
                             (' inplace' if inplace else ''), dtype=dtype, error=error,
                             worst=worst, tolerance=TOLERANCES[dtype],
                             ok=error <= TOLERANCES[dtype]))
    return finish(rows, skipped)


def each_cgd_against_float64(model: nn.Module, x: torch.Tensor, device: str,
                             dtype: str) -> Tuple[float, str]:
    """A forward of ``model`` on ``device`` under ``dtype``; then every CGD in it, on the input
    it saw there, against the float64 equations: output, input and parameter gradients for a
    random output gradient. (The gradient a following BatchNorm sends back nearly cancels a
    per-channel scale, so its relative error says little about CGD.)"""
    from mmdet_cgd.models import CGD
    model = model.float().to(device)
    seen = {}

    def keep_input(module, args):
        seen[module] = args[0].detach().clone()  # before an in-place CGD scales it

    handles = [m.register_forward_pre_hook(keep_input) for m in model.modules()
               if isinstance(m, CGD)]
    try:
        with torch.no_grad(), autocast(device, dtype):
            model(x.to(device))
    finally:
        for h in handles:
            h.remove()
    worst = (0.0, '')
    for name, module in model.named_modules():
        if isinstance(module, CGD):
            error, tensor = compare(copy.deepcopy(module), seen[module], device, dtype)
            worst = max(worst, (error, f'{name} {tensor}'))
    return worst


def check_positions(device: str, tiny: bool) -> dict:
    """A two-stage ResNet (Bottleneck and BasicBlock) with CGD at every position: each CGD
    against the float64 equations in every dtype; in float32 also the whole network's output and
    every gradient (input's included) against its float64 copy."""
    from mmdet.models.backbones import ResNet

    from mmdet_cgd.models import CGDResNet
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    setup_precision()
    base, size = (8, 32) if tiny else (16, 64)
    dtypes, skipped = dtypes_here(device)
    rows = []
    for label, depth, position, inplace in PLACEMENTS:
        cls = CGDResNet if position == 'before_norm1' else ResNet

        def build(cls=cls, depth=depth, position=position, inplace=inplace):
            torch.manual_seed(0)
            model = cls(depth=depth, base_channels=base, num_stages=2, strides=(1, 2),
                        dilations=(1, 1), out_indices=(0, 1), norm_eval=False,
                        zero_init_residual=False, plugins=[dict(
                            cfg=dict(type='CGD', inplace=inplace), position=position)])
            randomize(model).train()  # mmdet's ResNet.train returns None
            return model

        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
        for dtype in dtypes:
            error, worst = each_cgd_against_float64(build(), x, device, dtype)
            rows.append(dict(check=f'{label}: each CGD', dtype=dtype, error=error, worst=worst,
                             tolerance=TOLERANCES[dtype], ok=error <= TOLERANCES[dtype]))
        error, worst = compare(build(), x, device, 'float32')
        rows.append(dict(check=f'{label}: whole network', dtype='float32', error=error,
                         worst=worst, tolerance=NETWORK_FLOAT32, ok=error <= NETWORK_FLOAT32))
    return finish(rows, skipped)


def check_compile(device: str, tiny: bool) -> dict:
    """The CGD layer under ``torch.compile(fullgraph=True)`` against eager, in training (value,
    input and parameter gradients), in place and not, float32 and AMP float16: Inductor on
    CUDA, where it takes the Triton ops' kernels into its own code; ``aot_eager`` elsewhere
    (the CPU mode's check of the step, not of Inductor). Torch only."""
    from mmdet_cgd.ops import triton_cgd
    CGD = layer_class()
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    setup_precision()
    backend = 'inductor' if device.startswith('cuda') else 'aot_eager'
    shape = (2, 16, 9, 7) if tiny else (2, 256, 100, 152)
    dtypes = ['float32'] + (['float16'] if device.startswith('cuda') else [])
    rows = []
    for dtype in dtypes:
        for inplace in (False, True):
            torch.manual_seed(0)
            layer = randomize(CGD(shape[1], inplace=inplace)).to(device)
            # under autocast, CGD gets the conv's output in the low dtype
            x = torch.randn(shape, device=device).to(getattr(torch, dtype))
            weights = [torch.randn(shape, device=device)]
            eager = grads(layer, x, weights, dtype)
            torch._dynamo.reset()
            compiled = torch.compile(layer, backend=backend, fullgraph=True)
            got = {k.replace('_orig_mod.', ''): v
                   for k, v in grads(compiled, x, weights, dtype).items()}
            error, worst = worst_error(got, eager)
            path = triton_cgd.triton_unavailable_reason() or (
                'Triton kernels' if triton_cgd.applies(x) else 'PyTorch path')
            rows.append(dict(check=f'{backend} fullgraph, CGD({shape[1]}) on {tuple(shape)}' +
                             (' inplace' if inplace else '') + f' ({path})', dtype=dtype,
                             error=error, worst=worst, tolerance=TOLERANCES[dtype],
                             ok=error <= TOLERANCES[dtype]))
    return finish(rows, {})
