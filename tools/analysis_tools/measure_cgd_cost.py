"""CGD's cost against plain ResNet-50 and the other attention plugins, with intervals and verdicts.

    python tools/analysis_tools/measure_cgd_cost.py        # default: ~8 min on 2 idle CPU cores
    python tools/analysis_tools/measure_cgd_cost.py --markdown docs/cost.md \
        --chart docs/images/cost.png           # regenerate the docs (and docs/cost.json)
    python tools/analysis_tools/measure_cgd_cost.py --compare RUN1.json RUN2.json

On a GPU, issue #30's measurement (the layer against its 7-pass bound at the shapes of layer1 and
layer4, float32 and float16; CGD-ResNet-50 and Mask R-CNN training steps against plain at
2 x 3 x 800 x 1216; run it again with --amp float16):
    python tools/analysis_tools/measure_cgd_cost.py --device cuda --layer-bound \
        --models backbone mask_rcnn --variants plain 'CGD paper (before_norm1)' \
        --size 800 1216 --batch 2 --rounds 12 --warmup 3 --memory-runs 1 \
        --headline-rounds 0 --flops-size 0 0

Every variant is timed in pairs with plain (back to back, alternating order) over --rounds
rounds at --size; each figure is the median of the per-pair ratios with a distribution-free
interval. The headline size (--headline-size, fewer rounds) repeats the paper placement's
figures at the detectors' input size. Peak memory: --memory-runs per variant (on CPU each in a
fresh process) at --size; at the headline size too with --headline-memory-runs. Writes the
markdown, the chart and the raw samples (beside the markdown, ``.json``), each with the command
that made it.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
from cgd_cost.bound import bound_table, layer_against_bound
from cgd_cost.compare import agreement_table
from cgd_cost.report import bar_chart, coverage_note, model_table, model_title, targets_table
from cgd_cost.suite import BASELINE, measure_model
from cgd_cost.targets import PAPER, target_rows
from cgd_cost.variants import VARIANTS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--models', nargs='+', default=['backbone'], choices=['backbone', 'detector',
                                                               'mask_rcnn'],
        help='detector: Faster R-CNN R50-FPN with each backbone (about 2x the time); '
        "mask_rcnn: Mask R-CNN R50-FPN, the paper's detector")
    add('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    add('--size', nargs=2, type=int, default=[512, 512], metavar=('H', 'W'),
        help='input of the many-round comparison of every variant')
    add('--batch', type=int, default=1)
    add('--rounds', type=int, default=10, help='paired rounds per variant at --size')
    add('--memory-runs', type=int, default=6,
        help='peak-memory runs per variant at --size (on CPU: fresh processes)')
    add('--headline-size', nargs=2, type=int, default=[800, 1216], metavar=('H', 'W'))
    add('--headline-batch', type=int, default=2)
    add('--headline-rounds', type=int, default=6,
        help='paired rounds at the headline size (0: skip it)')
    add('--headline-memory-runs', type=int, default=0,
        help='peak-memory runs per variant at the headline size (0: at --size only)')
    add('--headline-variants', nargs='+', default=[PAPER], choices=list(VARIANTS))
    add('--flops-size', nargs=2, type=int, default=[800, 1216], metavar=('H', 'W'),
        help='image size for FLOPs per image (0 0: do not count)')
    add('--layer-bound', action='store_true',
        help="also: the CGD layer against its 7-pass bound at the device's copy bandwidth, "
        "at issue #30's shapes, float32 and float16 (30 rounds each)")
    add('--warmup', type=int, default=1, help='untimed rounds before each timed set')
    add('--confidence', type=float, default=0.95)
    add('--device', default='cpu')
    add('--amp', choices=['float16', 'bfloat16'],
        help='the models under autocast to this dtype')
    add('--compile', nargs='?', const='inductor', metavar='BACKEND',
        help='the models under torch.compile (default backend: inductor); the warm-up rounds '
             'compile')
    add('--out-dir', default='work_dirs/benchmark', help='for the files not given a path')
    add('--markdown', help='default: OUT_DIR/benchmark.md')
    add('--chart', help='default: OUT_DIR/benchmark.png')
    add('--compare', nargs=2, metavar=('RUN1_JSON', 'RUN2_JSON'),
        help='measure nothing: whether two runs (their benchmark.json) agree, target by target')
    args = parser.parse_args(argv)
    if args.compare:
        missing = [p for p in args.compare if not Path(p).is_file()]
        if missing:
            parser.error(f'--compare: expected two benchmark.json files, not found: {missing}')
        return args
    if not [v for v in args.variants if v != BASELINE]:
        parser.error(f'--variants: give at least one variant besides {BASELINE!r}, '
                     f'got {args.variants}')
    for name in ('rounds', 'batch', 'headline_batch'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1, '
                         f'got {getattr(args, name)}')
    for name in ('memory_runs', 'headline_rounds', 'headline_memory_runs', 'warmup'):
        if getattr(args, name) < 0:
            parser.error(f'--{name.replace("_", "-")} must be 0 or more, '
                         f'got {getattr(args, name)}')
    if args.compile and args.warmup < 1:
        parser.error('--compile needs --warmup 1 or more: the first call compiles')
    if not 0 < args.confidence < 1:
        parser.error(f'--confidence must be in (0, 1), got {args.confidence}')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: torch sees no CUDA device here')
    out_dir = Path(args.out_dir)
    args.markdown = Path(args.markdown or out_dir / 'benchmark.md')
    args.chart = Path(args.chart or out_dir / 'benchmark.png')
    args.raw = args.markdown.with_suffix('.json')
    return args


def machine(device: str) -> str:
    if device.startswith('cuda'):
        return f'{torch.cuda.get_device_name(torch.device(device))}'
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            name = next(line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return f'CPU {name}, {os.cpu_count()} cores, torch using {torch.get_num_threads()} threads'


def load() -> str:
    return '/'.join(f'{x:.2f}' for x in os.getloadavg())


def run(args) -> str:
    """Measure everything; write the markdown, the chart and the raw samples; return the text."""
    started, load_start, t0 = datetime.datetime.now(datetime.timezone.utc), load(), time.time()
    if os.getloadavg()[0] >= 1:
        print(f'[benchmark] warning: load average {load_start} before starting: other processes '
              'compete for the cores, expect wider intervals')
    flops_size = tuple(args.flops_size) if all(args.flops_size) else None
    modes = dict(amp=args.amp, compile_backend=args.compile)
    results = [measure_model(m, args.variants, tuple(args.size), args.batch, args.rounds,
                             args.warmup, args.memory_runs, args.device, flops_size, **modes)
               for m in args.models]
    if args.headline_rounds:
        results.append(measure_model(
            'backbone', args.headline_variants, tuple(args.headline_size), args.headline_batch,
            args.headline_rounds, args.warmup, args.headline_memory_runs, args.device, **modes))
    bound = layer_against_bound(args.device) if args.layer_bound else None
    run_line = (f'Run: {started:%Y-%m-%d %H:%M} UTC, {(time.time() - t0) / 60:.1f} min; load '
                f'average (1/5/15 min) {load_start} at the start, {load()} at the end.')
    markdown = render(args, results, run_line, bound)

    for path in (args.markdown, args.chart):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown)
    bar_chart(results, args.confidence, args.chart)
    raw = dict(command=command_line(), started=f'{started:%Y-%m-%d %H:%M} UTC',
               machine=machine(args.device), torch=torch.__version__, models=results,
               layer_bound=bound)
    args.raw.write_text(json.dumps(raw, indent=1))
    return markdown


def command_line() -> str:
    return shlex.join(['python', 'tools/analysis_tools/measure_cgd_cost.py', *sys.argv[1:]])


def render(args, results, run_line: str, bound=None) -> str:
    """The markdown page: how it was measured, the targets' verdicts, then every table."""
    conf = args.confidence
    text = [
        '# CGD benchmark', '',
        f'Command: `{command_line()}`  ',
        f'Machine: {machine(args.device)}; torch {torch.__version__}.  ', run_line, '',
        'Each ratio is the median, over paired rounds, of variant / plain timed back to back in '
        f'alternating order, with a distribution-free {conf:.0%} interval for that median '
        '(order statistics) in brackets. A target is **met** only where the whole interval is '
        'within the goal, **missed** where it is entirely outside, **not resolved** where it '
        f'straddles the goal or fewer samples than a {conf:.0%} interval needs were taken. Peak '
        'memory: what one training step adds at its peak over the model, input and gradients, '
        'after a first step (CPU: RSS high-water mark, with allocations over 64 KiB served by '
        'mmap so that it follows the live tensors, each in a fresh process; CUDA: '
        'max_memory_allocated), paired with plain by run; MiB as median (min-max) over the '
        'runs.', '',
        '## Targets', '', targets_table(target_rows(results, conf))]
    for result in results:
        text += ['', f'## {model_title(result)}', '',
                 coverage_note(result['rounds'], 'paired rounds', conf) + '; ' + (
                     coverage_note(result['memory_runs'], 'memory processes per variant', conf)
                     if result['memory_runs'] else 'memory not measured at this size') + '.',
                 '', model_table(result, conf)]
    if bound:
        text += ['', '## The CGD layer against its 7-pass bound', '', bound_table(bound)]
    chart_link = os.path.relpath(args.chart, args.markdown.parent)
    text += ['', f'![benchmark]({chart_link})']
    return '\n'.join(text) + '\n'


def main():
    args = parse_args()
    if args.compare:
        print(agreement_table(*args.compare, args.confidence))
        return
    markdown = run(args)
    print('\n' + markdown)
    print(f'[benchmark] wrote {args.markdown}, {args.chart} and {args.raw}')


if __name__ == '__main__':
    main()
