"""The cost study's markdown (tables with intervals and verdicts) and its bar chart."""
import statistics
from typing import Sequence

from matplotlib.figure import Figure

from .stats import Interval, coverage_for, median_interval
from .suite import BASELINE, baseline_seconds
from .targets import goals_of, ratio_samples

MiB = 2**20
CHARTED = (('forward', 'forward'), ('training step', 'forward_backward'),
           ('training-step peak memory', 'peak_bytes'))
MODEL_NAMES = dict(backbone='ResNet-50 backbone', detector='Faster R-CNN R50-FPN',
                   mask_rcnn='Mask R-CNN R50-FPN')


def describe(iv: Interval) -> str:
    """``median [low, high]``, three decimals."""
    return f'{iv.median:.3f} [{iv.low:.3f}, {iv.high:.3f}]'


def model_title(result: dict) -> str:
    h, w = result['size']
    modes = [f"autocast {result['amp']}" if result.get('amp') else '',
             f"torch.compile ({result['compile']})" if result.get('compile') else '']
    modes = ', '.join(m for m in modes if m)
    return (f"{MODEL_NAMES[result['model']]}, {result['batch']} x 3 x {h} x {w}"
            + (f', {modes}' if modes else ''))


def model_table(result: dict, confidence: float) -> str:
    """One row per variant: absolute medians and ratios to plain with their intervals."""
    rows = result['variants']
    flops_size = result.get('flops_size')
    flops_label = (f'GFLOPs/img at {flops_size[0]}x{flops_size[1]}' if flops_size else None)
    if flops_label and result['model'] != 'backbone':
        flops_label += ' (backbone+FPN)'
    has_memory = result['memory_runs'] > 0
    head = ['variant', 'params', 'extra params'] + ([flops_label] if flops_label else []) + [
        'forward', 'x plain', 'fwd+bwd', 'x plain'] + (
        ['peak memory (min-max)', 'x plain'] if has_memory else [])
    lines = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
    plain = rows[BASELINE]
    for name, r in rows.items():
        cells = [name, f"{r['params'] / 1e6:.3f} M", f"{r['params'] - plain['params']:+,}"]
        if flops_label:
            cells.append(f"{r['flops'] / 1e9:.3f}")
        for measure in ('forward', 'forward_backward'):
            if name == BASELINE:
                cells += [f'{statistics.median(baseline_seconds(result, measure)):.3f} s',
                          '1']
            else:
                cells += [f"{statistics.median(c for _, c in r[measure]):.3f} s",
                          describe(median_interval(ratio_samples(result, name, measure),
                                                   confidence))]
        if has_memory:
            peaks = r['peak_bytes']
            cells.append(f'{statistics.median(peaks) / MiB:,.0f} MiB '
                         f'({min(peaks) / MiB:,.0f}-{max(peaks) / MiB:,.0f})')
            cells.append('1' if name == BASELINE else describe(
                median_interval(ratio_samples(result, name, 'peak_bytes'), confidence)))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def coverage_note(count: int, what: str, confidence: float) -> str:
    """What an interval over ``count`` samples holds, in words."""
    cov = coverage_for(count, confidence)
    return f'{count} {what}: intervals hold the median with {cov:.1%} probability' + (
        f' (below {confidence:.0%}: too few for a verdict)' if cov < confidence else '')


def targets_table(rows: Sequence[dict]) -> str:
    lines = ['| target (CGD paper placement) | goal | workload | median [95% interval] | '
             'coverage | verdict |', '|---|---|---|---|---:|---|']
    for r in rows:
        goal = f"<= {r['goal']}x"
        lines.append(f"| {r['target']} | {goal} | {r['workload']} | {describe(r['interval'])} | "
                     f"{r['interval'].coverage:.1%} | {r['verdict']} |")
    return '\n'.join(lines)


def bar_chart(model_results: Sequence[dict], confidence: float, out_path) -> None:
    """Per model and size: each variant's median ratio to plain with its interval as an error
    bar, for forward, forward+backward and peak memory; dashed lines mark the goals."""
    widths = [max(2, len(r['variants']) - 1) for r in model_results]  # bars keep one width
    fig = Figure(figsize=(2 + 1.4 * sum(widths), 4.8))  # no pyplot: no global backend
    axes = fig.subplots(1, len(model_results), squeeze=False,
                        gridspec_kw=dict(width_ratios=widths))
    for ax, result in zip(axes[0], model_results):
        names = [n for n in result['variants'] if n != BASELINE]
        goals = {measure: goal for _, measure, goal in goals_of(result)}
        measures = [m for m in CHARTED if m[1] != 'peak_bytes' or result['memory_runs']]
        width = 0.8 / len(CHARTED)
        for i, (label, measure) in enumerate(measures):
            ivs = [median_interval(ratio_samples(result, n, measure), confidence) for n in names]
            xs = [j + i * width for j in range(len(names))]
            medians = [iv.median for iv in ivs]
            err = [[iv.median - iv.low for iv in ivs], [iv.high - iv.median for iv in ivs]]
            goal = goals.get(measure)
            bars = ax.bar(xs, medians, width, yerr=err, capsize=2,
                          label=f'{label} (goal {goal}x)' if goal else label)
            for x, iv in zip(xs, ivs):  # above the error bar, where it stays readable
                ax.annotate(f'{iv.median:.2f}', (x, iv.high), xytext=(0, 3),
                            textcoords='offset points', ha='center', va='bottom', fontsize=7,
                            rotation=90)
            if goal:
                ax.axhline(goal, color=bars.patches[0].get_facecolor(), lw=0.8, ls='--')
        ax.axhline(1.0, color='k', lw=0.8)
        ax.set_xticks([j + width for j in range(len(names))], names, rotation=20, ha='right',
                      fontsize=8)
        ax.set_title(model_title(result), fontsize=9)
        ax.set_ylabel(f'x plain (median, {confidence:.0%} interval)')
        ax.set_xlim(-0.5, max(len(names), 2) - 0.3)  # one bar width in every panel
        ax.set_ylim(0, max(2.0, ax.get_ylim()[1] * 1.1))
    axes[0][0].legend(fontsize=7)  # one legend: every panel uses the same colours
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
