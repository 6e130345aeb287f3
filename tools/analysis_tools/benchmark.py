"""CGD's cost against plain ResNet-50 and the other attention plugins, measured side by side.

    python tools/analysis_tools/benchmark.py                       # 800x1216, batch 2, CPU: backbone + detector
    python tools/analysis_tools/benchmark.py --models backbone --size 800 1216 --batch 2 --repeats 5
    python tools/analysis_tools/benchmark.py --device cuda

Timings are medians over --repeats rounds, each round running every variant once (interleaved),
after --warmup rounds. Writes benchmark.md and benchmark.png to --out-dir.
"""
import argparse
import platform
from pathlib import Path

import torch
from mmengine.analysis import parameter_count

from mmdet_cgd.benchmark.bandwidth import cgd_vs_bandwidth
from mmdet_cgd.benchmark.flops import count_flops
from mmdet_cgd.benchmark.measure import (interleaved_medians, peak_step_memory,
                                         peak_step_memory_in_child)
from mmdet_cgd.benchmark.report import bandwidth_table, bar_chart, model_table
from mmdet_cgd.benchmark.variants import VARIANTS
from mmdet_cgd.benchmark.workloads import build, workloads


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=['backbone', 'detector'],
                        choices=['backbone', 'detector'])
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--size', nargs=2, type=int, default=[800, 1216], metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--bandwidth-shape', nargs=4, type=int, default=[2, 256, 200, 304],
                        help='activation for the CGD-alone test (default: a 800x1216 stride-4 map)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args()
    if 'plain' not in args.variants:
        args.variants.insert(0, 'plain')
    return args


def benchmark_model(model, args):
    print(f'[benchmark] {model}: building {len(args.variants)} variants')
    nets = {v: build(model, v, args.device) for v in args.variants}
    rows = {v: dict(params=parameter_count(net)[''],
                    flops=count_flops(model, net, args.size) if args.device == 'cpu' else 0)
            for v, net in nets.items()}
    fns = {v: workloads(model, net, args.size, args.batch, args.device) for v, net in nets.items()}
    print(f'[benchmark] {model}: timing, {args.warmup} warm-up + {args.repeats} interleaved rounds')
    for i, key in enumerate(('forward_s', 'forward_backward_s')):  # like with like, in turn
        timed = {v: pair[i] for v, pair in fns.items()}
        for v, sec in interleaved_medians(timed, args.repeats, args.warmup, args.device).items():
            rows[v][key] = sec
    print(f'[benchmark] {model}: peak memory of a training step')
    for v in args.variants:
        if args.device == 'cpu':
            rows[v]['peak_bytes'] = peak_step_memory_in_child(model, v, args.size, args.batch,
                                                              args.device)
        else:
            rows[v]['peak_bytes'] = peak_step_memory(fns[v][1], args.device)
    del nets
    return rows


def main():
    args = parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {m: benchmark_model(m, args) for m in args.models}
    print('[benchmark] CGD alone against the bandwidth bound')
    bw = cgd_vs_bandwidth(args.bandwidth_shape, max(args.repeats, 10), 2, args.device)

    device = torch.cuda.get_device_name() if args.device.startswith('cuda') else \
        f'CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)'
    h, w = args.size
    text = [f'Measured with `python tools/analysis_tools/benchmark.py --size {h} {w} --batch {args.batch} '
            f'--repeats {args.repeats} --device {args.device}` on {device}, '
            f'torch {torch.__version__}. Medians of {args.repeats} interleaved rounds; peak memory '
            'is what a training step (after a first one) adds at its peak over the model, input '
            'and gradients (CPU: RSS high-water mark, one fresh process per variant). FLOPs: '
            "mmengine's FlopAnalyzer plus one per element of mean, amax, mul, softmax, sigmoid."]
    names = dict(backbone='ResNet-50 backbone', detector='Faster R-CNN R50-FPN')
    for m, rows in results.items():
        label = 'GFLOPs/img' if m == 'backbone' else 'GFLOPs/img (backbone+FPN)'
        text += ['', f'### {names[m]}, {args.batch} x 3 x {h} x {w}', '', model_table(rows, label)]
    text += ['', f'### The CGD layer alone, input {tuple(args.bandwidth_shape)} float32', '',
             bandwidth_table(bw)]
    (out_dir / 'benchmark.md').write_text('\n'.join(text) + '\n')
    bar_chart({names[m]: rows for m, rows in results.items()}, out_dir / 'benchmark.png')
    print('\n'.join(text))
    print(f'\n[benchmark] wrote {out_dir / "benchmark.md"} and {out_dir / "benchmark.png"}')


if __name__ == '__main__':
    main()
