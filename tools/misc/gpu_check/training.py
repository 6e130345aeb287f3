"""CGD-ResNet-50 (paper placement) learning one fixed batch, in float32, AMP float16 and
bfloat16: training steps that can fail.

1. The first step from the same weights and batch in the three dtypes, BatchNorm frozen (as the
   detection configs train it): its loss (relative error) and all CGD parameters' gradients as
   one vector (cosine to float32's), float16 and bfloat16 against float32, within
   ``FIRST_STEP``. With BatchNorm in training mode right after CGD (the paper's before_norm1),
   BatchNorm undoes every scale the batch shares, so CGD's true gradient is a small residual of
   cancelling terms that rounding swamps (seen on CPU, CGD-ResNet-50 at 8 x 224 x 224,
   bfloat16: per-layer cosines from -0.99 to 1.0, 0.10 in all); frozen, they agree (cosine
   0.9998 in float16, 0.998 in bfloat16, losses within 4e-6). float16 runs with a static loss
   scale of 2^10 (gradients below its range would flush to zero), divided out after.
2. ``STEPS`` SGD steps on that batch in each dtype (CUDA: mmengine's ``AmpOptimWrapper`` with
   dynamic loss scaling, what ``--amp`` selects; CPU: autocast, no scaler): the loss must fall
   to ``FALL`` of its first value, every loss and gradient finite, CGD's gradients not all zero
   (``zero_init_residual=False``: mmdet's default zeroes them at step 0).
"""
import math
import time
from typing import Dict, List, Tuple

import torch
from torch import nn

from .numerics import autocast

DTYPES = ('float32', 'float16', 'bfloat16')
# last loss <= FALL * first loss, after STEPS steps on one batch (seen on CPU, CGD-ResNet-18 of
# 16 channels: below 0.01 in every dtype in 8 steps; a wrong gradient stalls or diverges)
FALL = 0.25
STEPS = 8
# first step against float32: (most relative loss error, least cosine of the CGD gradients);
# seen on CPU: float16 6e-7 / 0.9998, bfloat16 5e-6 / 0.998 (CGD-ResNet-18 of 16 channels:
# 0.91, its CGD gradients are small beside the head's rounding)
FIRST_STEP = {'float16': (1e-3, 0.99), 'bfloat16': (1e-2, 0.8)}
FP16_STATIC_SCALE = 2.0**10


def build(device: str, tiny: bool, norm_eval: bool = False) -> nn.Module:
    """CGD-ResNet-50 (``tiny``: a CGD-ResNet-18 of 16 base channels, for a CPU's minutes);
    ``norm_eval``: BatchNorm frozen at its initial statistics."""
    from mmdet_cgd.models import CGDResNet
    torch.manual_seed(0)
    depth, base, out = (18, 16, 128) if tiny else (50, 64, 2048)
    backbone = CGDResNet(depth=depth, base_channels=base, norm_eval=norm_eval,
                         zero_init_residual=False, init_cfg=None,
                         plugins=[dict(cfg=dict(type='CGD', inplace=True),
                                       position='before_norm1')])
    return nn.ModuleDict(dict(backbone=backbone, head=nn.Linear(out, 10))).to(device)


def batch(device: str, tiny: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    n, size = (4, 32) if tiny else (8, 224)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=gen)
    return x.to(device), torch.arange(n).remainder(10).to(device)


def loss_of(net: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = net['head'](net['backbone'](x)[-1].mean((2, 3)))
    return nn.functional.cross_entropy(logits.float(), labels)


def cgd_gradients(net: nn.Module) -> torch.Tensor:
    grads = [p.grad.detach().double().flatten() for n, p in net.named_parameters()
             if '.cgd.' in n and p.grad is not None]
    return torch.cat(grads).cpu()


def first_step(device: str, tiny: bool, dtype: str, x, labels) -> Tuple[float, torch.Tensor]:
    net = build(device, tiny, norm_eval=True).train()  # mmdet's train() keeps BN in eval mode
    scale = FP16_STATIC_SCALE if dtype == 'float16' else 1.0
    with autocast(device, dtype):
        loss = loss_of(net, x, labels)
    (loss * scale).backward()
    grads = cgd_gradients(net) / scale
    return loss.item(), grads


def train(device: str, tiny: bool, dtype: str, x, labels) -> Tuple[List[float], float, bool]:
    """Losses over ``STEPS`` steps; the last CGD gradient norm; whether all were finite."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    net = build(device, tiny).train()
    sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    cuda = torch.device(device).type == 'cuda'
    if cuda and dtype != 'float32':
        wrapper = AmpOptimWrapper(optimizer=sgd, loss_scale='dynamic', dtype=dtype)
        context = lambda: wrapper.optim_context(net)  # noqa: E731
    else:
        wrapper = OptimWrapper(optimizer=sgd)
        context = lambda: autocast(device, dtype)  # noqa: E731
    losses, finite = [], True
    for _ in range(STEPS):
        with context():
            loss = loss_of(net, x, labels)
        losses.append(loss.item())
        wrapper.backward(loss)
        if isinstance(wrapper, AmpOptimWrapper):
            wrapper.loss_scaler.unscale_(sgd)
        finite &= all(torch.isfinite(p.grad).all().item() for p in net.parameters()
                      if p.grad is not None)
        norm = cgd_gradients(net).norm().item()
        wrapper.step()
        wrapper.zero_grad()
    return losses, norm, finite


def relative(got, ref) -> float:
    if isinstance(got, float):
        return abs(got - ref) / max(abs(ref), 1e-30)
    return ((got - ref).norm() / ref.norm().clamp_min(1e-30)).item()


def cosine(got: torch.Tensor, ref: torch.Tensor) -> float:
    return (got @ ref / (got.norm() * ref.norm()).clamp_min(1e-300)).item()


def overfit(device: str, tiny: bool) -> dict:
    from .numerics import dtypes_here
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        from .record import Skip
        raise Skip('torch sees no CUDA device')
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32
    torch.backends.cudnn.allow_tf32 = False
    usable, skipped = dtypes_here(device)
    x, labels = batch(device, tiny)
    start = time.perf_counter()
    first: Dict[str, Tuple[float, torch.Tensor]] = {
        d: first_step(device, tiny, d, x, labels) for d in usable}
    rows, problems = [], []
    for dtype in usable:
        losses, norm, finite = train(device, tiny, dtype, x, labels)
        row = dict(dtype=dtype, first_loss=first[dtype][0], losses=losses,
                   fall=losses[-1] / losses[0], cgd_grad_norm=norm, finite=finite)
        if dtype != 'float32':
            ref_loss, ref_grads = first['float32']
            row['loss_error'] = relative(first[dtype][0], ref_loss)
            row['grad_error'] = relative(first[dtype][1], ref_grads)
            row['grad_cosine'] = cosine(first[dtype][1], ref_grads)
            loss_tol, least_cosine = FIRST_STEP[dtype]
            if row['loss_error'] > loss_tol or not row['grad_cosine'] >= least_cosine:
                problems.append(f'{dtype} first step off float32: loss {row["loss_error"]:.1e} '
                                f'(at most {loss_tol:.0e}), CGD gradients\' cosine '
                                f'{row["grad_cosine"]:.3f} (at least {least_cosine})')
        if not finite or not all(math.isfinite(v) for v in losses):
            problems.append(f'{dtype}: non-finite loss or gradient')
        elif row['fall'] > FALL:
            problems.append(f'{dtype}: loss fell only to {row["fall"]:.2f} of its first value '
                            f'in {STEPS} steps (needs {FALL})')
        if norm == 0:
            problems.append(f'{dtype}: every CGD gradient is zero')
        rows.append(row)
    markdown = table(rows, x.shape) + (
        '\n\n' + '; '.join(f'{d} skipped: {why}' for d, why in skipped.items()) if skipped
        else '')
    if problems:
        raise AssertionError('; '.join(problems))
    return dict(summary=f'{len(rows)} dtypes: loss fell to ' + ', '.join(
        f"{r['dtype']} {r['fall']:.2f}" for r in rows) + f' of its first value in {STEPS} steps'
        + ''.join(f"; {r['dtype']} first step vs float32: loss {r['loss_error']:.1e}, CGD "
                  f"gradients cosine {r['grad_cosine']:.3f}" for r in rows if 'loss_error' in r),
        rows=rows, skipped=skipped, fall_needed=FALL, first_step_tolerances=FIRST_STEP,
        seconds=time.perf_counter() - start, markdown=markdown)


def table(rows: List[dict], shape) -> str:
    lines = [f'One fixed batch {tuple(shape)}, {STEPS} SGD steps; the loss must fall to {FALL} '
             'of its first value. First step (BatchNorm frozen) against float32: ' + ', '.join(
                 f'{d} loss within {a:.0e} (relative), CGD gradients\' cosine at least {b}'
                 for d, (a, b) in FIRST_STEP.items()) + '.', '',
             '| dtype | losses | last / first | first-step loss vs fp32 | CGD gradients: cosine '
             '| relative error |', '| :-- | :-- | --: | --: | --: | --: |']
    for r in rows:
        lines.append(f"| {r['dtype']} | {', '.join(f'{v:.3f}' for v in r['losses'])} | "
                     f"{r['fall']:.3f} | {r.get('loss_error', 0):.1e} | "
                     f"{r.get('grad_cosine', 1):.3f} | {r.get('grad_error', 0):.1e} |")
    return '\n'.join(lines)
