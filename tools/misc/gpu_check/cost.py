"""The cost steps (issue #24, item 3), each in its worker's process, with the cost study's own
functions (``tools/analysis_tools/cgd_cost``) and no fresh processes (on CUDA those would be
spawned, a whole import each):

- the layer against its 7-pass bound (``cgd_cost.bound``), torch only: it runs while mmcv builds;
- CGD-ResNet-50 (paper placement) against plain ResNet-50, training steps at 2 x 3 x 800 x 1216,
  float32 and AMP: paired rounds (``cgd_cost.suite``), peak memory of a step in this process
  (CUDA's allocator counts what is allocated, whatever ran before).
"""
import torch

from .record import Skip
from .torch_only import layer_class, mmdet_models_imported

TINY_SHAPES = ((1, 8, 9, 7), (2, 16, 5, 5))
STEP_GOAL = 1.03  # issue #24: a CGD-ResNet-50 AMP training step at most 1.03x plain


def layer_bound(device: str, tiny: bool) -> dict:
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    layer_class()  # before anything imports mmdet_cgd whole: mmcv may still be building
    from cgd_cost.bound import bound_table, layer_against_bound
    options = dict(shapes=TINY_SHAPES, rounds=3, warmup=1, copy_bytes=2**22) if tiny else {}
    result = layer_against_bound(device, **options)
    paths = sorted({r['path'] for r in result['rows']})
    result['torch_only'] = not mmdet_models_imported()
    worst = max(result['rows'], key=lambda r: r['ratio'])
    met = sum(r['met'] for r in result['rows'])
    return dict(summary=f"{met} of {len(result['rows'])} goals met; worst "
                        f"{worst['ratio']:.1f}x bound at {tuple(worst['shape'])} "
                        f"{worst['dtype']}; copy {result['bandwidth'] / 1e9:.0f} GB/s; "
                        'ops.cgd ran: ' + '; '.join(paths),
                markdown=bound_table(result), paths=paths, **result)


def backbone_steps(device: str, tiny: bool) -> dict:
    """Plain and CGD (paper) ResNet-50, training steps, float32 and AMP, paired rounds."""
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise Skip('torch sees no CUDA device')
    from cgd_cost.memory import peak_step_memory
    from cgd_cost.report import describe, model_table
    from cgd_cost.stats import median_interval
    from cgd_cost.suite import BASELINE, measure_model
    from cgd_cost.targets import PAPER, ratio_samples
    from cgd_cost.workloads import build, workloads
    size, batch, rounds, warmup = ((64, 64), 1, 3, 1) if tiny else ((800, 1216), 2, 12, 3)
    cuda = device.startswith('cuda')
    torch.backends.cudnn.benchmark = cuda
    amp = 'float16' if cuda else 'bfloat16'
    results, lines = [], []
    for mode in (None, amp):
        result = measure_model('backbone', [BASELINE, PAPER], size, batch, rounds, warmup, 0,
                               device, amp=mode, log=lambda text: None)
        peaks = {}
        for variant in (BASELINE, PAPER):
            net = build('backbone', variant, device)
            peaks[variant] = peak_step_memory(workloads('backbone', net, size, batch, device,
                                                        mode)[1], device)
            del net
            if cuda:
                torch.cuda.empty_cache()
        result['peak_bytes_in_process'] = peaks
        ratio = median_interval(ratio_samples(result, PAPER, 'forward_backward'))
        result['step_ratio'] = ratio.__dict__
        results.append(result)
        title = f"{mode or 'float32'}: {batch} x 3 x {size[0]} x {size[1]}"
        lines += [f'### {title}', '', model_table(result, 0.95), '',
                  f'Training step CGD / plain {describe(ratio)} (goal <= {STEP_GOAL} for AMP'
                  f'); peak step memory CGD / plain '
                  f'{peaks[PAPER] / max(peaks[BASELINE], 1):.3f} (one run each, this '
                  'process).', '']
    amp_ratio = results[1]['step_ratio']
    return dict(summary=f"training step CGD / plain: float32 "
                        f"{results[0]['step_ratio']['median']:.3f}, {amp} "
                        f"{amp_ratio['median']:.3f} [{amp_ratio['low']:.3f}, "
                        f"{amp_ratio['high']:.3f}] (goal <= {STEP_GOAL})",
                results=results, goal=STEP_GOAL, markdown='\n'.join(lines))
