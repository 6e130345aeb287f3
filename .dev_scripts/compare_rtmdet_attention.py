"""RTMDet-tiny with mmdet's ChannelAttention, with CGD and with none, on the embedded synthetic
data, on CPU (issue #32, item 5): box AP, parameters and CPU time side by side.

    python .dev_scripts/compare_rtmdet_attention.py          # about 30 min on 2 idle CPU cores
    python .dev_scripts/compare_rtmdet_attention.py --markdown docs/rtmdet_attention.md \
        --chart docs/images/rtmdet_attention.png

Each variant is configs/demo/rtmdet_tiny_synthetic.py with its --cfg-options, trained from
scratch with the same seed and schedule by tools/train.py and evaluated by tools/test.py, each in
its own folder under --work-dir (a variant whose final checkpoint exists is not trained again).
Then, in this process, the three trained models: their parameters, and CPU time of a training
step (forward, backward, AdamW step on one fixed batch) and of inference (the network's forward
on one image, without box decoding and NMS), timed in
interleaved rounds (tools/analysis_tools/cgd_cost), as medians and ratios to ChannelAttention
with distribution-free intervals. Writes a markdown section for docs/records.md, its raw
samples beside it (.json) and one picture.
"""
import argparse
import contextlib
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mmdet.models.layers import CSPLayer
from mmdet.registry import DATASETS, MODELS
from mmdet.utils import register_all_modules
from mmengine.dataset import pseudo_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.runner import set_random_seed

from mmdet_cgd.checkpoint import load_checkpoint_file, unwrap_state_dict
from mmdet_cgd.cli.common import load_tool_config
from mmdet_cgd.cli.test import read_test_metrics
from mmdet_cgd.cli.train import parse_args as train_args

REPO = Path(__file__).resolve().parents[1]
# the cost study's timing and statistics, the demo's data and log readers: by path, as scripts
sys.path[:0] = [str(REPO / 'tools' / 'analysis_tools'), str(REPO / 'demo')]

from cgd_cost.report import describe  # noqa: E402
from cgd_cost.stats import coverage_for, median_interval  # noqa: E402
from cgd_cost.timing import paired_times, ratios  # noqa: E402
from cgd_cost.workloads import init_logs_off  # noqa: E402
from figures import curve_points, read_scalars  # noqa: E402
from measure_cgd_cost import machine  # noqa: E402
from synthetic_coco import SyntheticSpec, data_root_options, write_dataset  # noqa: E402

CONFIG = 'configs/demo/rtmdet_tiny_synthetic.py'
BASELINE = 'ChannelAttention'
# name (its work dir) -> (table label, --cfg-options); the config's own backbone is CGD
VARIANTS = {
    BASELINE: ("mmdet's ChannelAttention", ['model.backbone.attention_cfg=None']),
    'CGD': ('CGD', []),
    'none': ('none', ['model.backbone.channel_attention=False',
                      'model.backbone.attention_cfg=None']),
}
MEASURES = ('training step', 'inference')
METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75')
NOTE = ('Synthetic shapes, not COCO, one seed: what the attention does to AP here says little '
        "about COCO (mmdet's RTMDet-tiny: 41.1 box AP with ChannelAttention).")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add('--work-dir', default='work_dirs/rtmdet_attention')
    add('--data-root', help='the synthetic data to use, written there if it holds none '
        '(default: WORK_DIR/data)')
    add('--num-train', type=int, default=400, help='train images to write')
    add('--num-val', type=int, default=100, help='val images to write')
    add('--image-size', type=int, default=256, help='of the images written, and the models input')
    add('--max-iters', type=int, help='training iterations (default: the config\'s, 1000)')
    add('--timing-rounds', type=int, default=30, help='interleaved rounds of the timing')
    add('--warmup', type=int, default=2, help='untimed rounds before them')
    add('--jobs', type=int, default=1,
        help='variants trained and tested at once, each by its own processes, their output '
        'then in WORK_DIR/VARIANT/*.log (more than 1 only with cores to spare: they compete)')
    add('--confidence', type=float, default=0.95)
    add('--markdown', help='default: WORK_DIR/results.md (the raw samples beside it, .json)')
    add('--chart', help='default: WORK_DIR/results.png')
    add('--cfg-options', nargs='+', default=[],
        help='more key=value overrides for every variant, training and testing')
    args = parser.parse_args(argv)
    for name in ('num_train', 'num_val', 'image_size', 'max_iters', 'timing_rounds', 'jobs'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1, got {value}')
    work = Path(args.work_dir)
    args.data_root = Path(args.data_root or work / 'data')
    args.markdown = Path(args.markdown or work / 'results.md')
    args.chart = Path(args.chart or work / 'results.png')
    return args


def log(message: str) -> None:
    print(f'[compare] {message}', flush=True)


def ensure_dataset(args) -> dict:
    """Write the synthetic set unless ``args.data_root`` holds one; its image counts and size."""
    root = args.data_root
    ann = {s: root / 'annotations' / f'instances_{s}.json' for s in ('train', 'val')}
    if all(p.is_file() for p in ann.values()):
        log(f'using the dataset in {root}')
    else:
        start = time.perf_counter()
        write_dataset(root, SyntheticSpec(args.num_train, args.image_size, seed=0),
                      SyntheticSpec(args.num_val, args.image_size, seed=1))
        log(f'wrote {args.num_train} train + {args.num_val} val images to {root} in '
            f'{time.perf_counter() - start:.1f} s')
    images = {s: json.loads(p.read_text())['images'] for s, p in ann.items()}
    return dict(train=len(images['train']), val=len(images['val']),
                size=sorted({(i['height'], i['width']) for i in images['val']}))


def run_options(args, cfg, max_iters: int) -> list:
    """--cfg-options every variant shares: the data, the input size, the schedule at
    ``max_iters`` (the config's proportions: validation and checkpoints 4 times, warm-up 1/20,
    cosine over the second half), then the user's."""
    quarter, twentieth = max(1, max_iters // 4), max(1, max_iters // 20)
    options = [*data_root_options(args.data_root.resolve()), f'train_cfg.max_iters={max_iters}',
               f'train_cfg.val_interval={quarter}', f'default_hooks.checkpoint.interval={quarter}',
               f'default_hooks.logger.interval={twentieth}',
               f'param_scheduler.0.end={twentieth}', f'param_scheduler.1.begin={max_iters // 2}',
               f'param_scheduler.1.end={max_iters}']
    size = args.image_size
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for i, transform in enumerate(cfg[loader].dataset.pipeline):
            if transform.type == 'Resize':
                options.append(f'{loader}.dataset.pipeline.{i}.scale=({size},{size})')
    return options + list(args.cfg_options)


def run_tool(tool: str, *args, log_file: Optional[Path] = None) -> float:
    """``tools/<tool>.py`` in a fresh process from the repository root, its output streamed or
    (``log_file``) written there; its wall time (s)."""
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(log_file, 'w')) if log_file else None
        proc = subprocess.run([sys.executable, f'tools/{tool}.py', *map(str, args)], cwd=REPO,
                              env=dict(os.environ, PYTHONUNBUFFERED='1'), stdout=out,
                              stderr=subprocess.STDOUT if out else None)
    if proc.returncode:
        tail = log_file.read_text()[-3000:] if log_file else ''
        sys.exit(f'{tail}\nerror: tools/{tool}.py exited with {proc.returncode}'
                 + (f' (its output: {log_file})' if log_file else ''))
    return time.perf_counter() - start


def train_and_test(name: str, work: Path, options: list, max_iters: int,
                   quiet: bool = False) -> dict:
    """Train one variant (unless its final checkpoint exists) and test it (unless tested):
    its checkpoint, metrics, validation curve and training wall time. ``quiet``: the tools'
    output goes to ``train.log`` and ``test.log`` in ``work``, not to the console."""
    checkpoint, seconds = work / f'iter_{max_iters}.pth', work / 'train_seconds.txt'
    work.mkdir(parents=True, exist_ok=True)
    if checkpoint.is_file():
        log(f'{name}: {checkpoint} exists, not training again')
    else:
        log(f'{name}: training for {max_iters} iterations')
        # --resume: from the furthest checkpoint of an interrupted run, if any
        train_s = run_tool('train', CONFIG, '--work-dir', work, '--resume', '--cfg-options',
                           *options, log_file=work / 'train.log' if quiet else None)
        seconds.write_text(f'{train_s:.1f}')
    test_dir = work / 'test'
    if not list(test_dir.glob('*/*.json')):
        log(f'{name}: testing {checkpoint.name} on the val images')
        run_tool('test', CONFIG, checkpoint, '--work-dir', test_dir, '--cfg-options', *options,
                 log_file=work / 'test.log' if quiet else None)
    log(f'{name}: done')
    metrics = read_test_metrics(test_dir)
    _, val = curve_points(read_scalars(work))
    return dict(checkpoint=str(checkpoint),
                train_seconds=float(seconds.read_text()) if seconds.is_file() else None,
                metrics={k: metrics.get(f'coco/{k}') for k in METRICS},
                curve=[(it, r['coco/bbox_mAP']) for it, r in val])


def load_config(options: list):
    """The config our tools run with these --cfg-options."""
    return load_tool_config(train_args([str(REPO / CONFIG)]
                                       + (['--cfg-options', *options] if options else [])))


def build_trained(cfg, checkpoint: str) -> torch.nn.Module:
    """The model with its trained (EMA) weights; SyncBN as BN, as the Runner makes it when not
    distributed."""
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.load_state_dict(unwrap_state_dict(load_checkpoint_file(checkpoint)))
    return model


def parameter_counts(model) -> dict:
    """The detector's, its backbone's and its CSP layers' attention modules' parameters."""
    attention = [m.attention for m in model.modules()
                 if isinstance(m, CSPLayer) and m.channel_attention]

    def count(module):
        return sum(p.numel() for p in module.parameters())

    return dict(detector=count(model), backbone=count(model.backbone),
                attention=sum(map(count, attention)))


def fixed_batches(cfg, data_preprocessor):
    """The first training batch (the config's batch size) and the first val image, loaded by
    the config's pipelines with a fixed seed and preprocessed as the Runner feeds them."""
    set_random_seed(0)  # RandomFlip
    train, val = (DATASETS.build(cfg[f'{s}_dataloader'].dataset) for s in ('train', 'val'))
    batch = pseudo_collate([train[i] for i in range(cfg.train_dataloader.batch_size)])
    return (data_preprocessor(batch, training=True),
            data_preprocessor(pseudo_collate([val[0]]), training=False))


def workloads(cfg, trained, frozen, train_data: dict, test_data: dict):
    """``(training step, inference)`` closures: ``trained`` takes AdamW steps (the config's
    optimizer) on the fixed batch, ``frozen`` runs the network on the val image: backbone, neck
    and head (``mode='tensor'``), not the box decoding and NMS after them, whose cost follows
    how many boxes a model scores above the threshold, not its attention."""
    optim_wrapper = build_optim_wrapper(trained, cfg.optim_wrapper)
    trained.train()
    frozen.eval()

    def training_step():
        loss, _ = trained.parse_losses(trained(**train_data, mode='loss'))
        optim_wrapper.update_params(loss)

    def inference():
        with torch.no_grad():
            frozen(**test_data, mode='tensor')

    return training_step, inference


def measure(configs: dict, results: dict, args) -> tuple:
    """Parameter counts, and ``{(variant, measure): [(ChannelAttention s, variant s), ...]}``
    from interleaved rounds: each round times every variant beside the baseline, in
    alternating order, for both measures. Each variant runs as two copies of its trained
    model: one for the training steps, whose weights these change, one for inference."""
    register_all_modules()
    log('building the trained models')
    fns, counts, batches = {}, {}, None
    with init_logs_off():
        for name, cfg in configs.items():
            trained, frozen = (build_trained(cfg, results[name]['checkpoint']) for _ in '12')
            counts[name] = parameter_counts(frozen)
            batches = batches or fixed_batches(cfg, frozen.data_preprocessor)
            fns[name] = workloads(cfg, trained, frozen, *batches)
    pairs = {(name, measure): (fns[BASELINE][i], fns[name][i])
             for name in configs if name != BASELINE for i, measure in enumerate(MEASURES)}
    log(f'timing: {args.warmup} warm-up + {args.timing_rounds} interleaved rounds, '
        f'{torch.get_num_threads()} threads')
    start = time.perf_counter()

    def progress(r):
        log(f'timing round {r + 1}/{args.timing_rounds} done, {time.perf_counter() - start:.0f} s')

    return counts, paired_times(pairs, args.timing_rounds, args.warmup, 'cpu', progress)


def time_summary(times: dict, confidence: float) -> dict:
    """Per variant and measure: the median seconds, and (but for the baseline) the interval of
    the median ratio to the baseline."""
    summary = {BASELINE: {}}
    for (name, measure), pairs in times.items():
        summary.setdefault(name, {})[measure] = dict(
            seconds=statistics.median(c for _, c in pairs),
            ratio=median_interval(ratios(pairs), confidence))
    for measure in MEASURES:  # the baseline: all its timings, from every pair
        summary[BASELINE][measure] = dict(seconds=statistics.median(
            b for (_, m), pairs in times.items() if m == measure for b, _ in pairs), ratio=None)
    return summary


def ap(value) -> str:
    return 'n/a' if value is None else f'{100 * value:.1f}'


def table(results: dict, counts: dict, summary: dict) -> str:
    head = ['attention', 'bbox AP', 'AP50', 'AP75', 'parameters', 'backbone',
            'attention parameters', 'training step', f'x {BASELINE}', 'inference',
            f'x {BASELINE}']
    lines = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
    for name, (label, _) in VARIANTS.items():
        m, c = results[name]['metrics'], counts[name]
        cells = [label, *(ap(m[k]) for k in METRICS),
                 *(f'{c[k]:,}' for k in ('detector', 'backbone', 'attention'))]
        for measure in MEASURES:
            t = summary[name][measure]
            cells += [f"{t['seconds']:.3f} s", describe(t['ratio']) if t['ratio'] else '1']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def render(args, context: dict, results: dict, counts: dict, summary: dict) -> str:
    """The records section: how it was run and measured, the table, the picture."""
    sizes, conf = context['sizes'], args.confidence
    h, w = sizes['size'][0] if len(sizes['size']) == 1 else ('mixed', 'mixed')
    cfg = context['config']
    rounds = args.timing_rounds
    chart = os.path.relpath(args.chart, args.markdown.parent)
    train_min = [r['train_seconds'] / 60 for r in results.values() if r['train_seconds']]
    return '\n'.join([
        f"## RTMDet-tiny with mmdet's ChannelAttention, CGD or none (synthetic data, CPU), "
        f"{context['started']:%Y-%m-%d}", '',
        f"`{context['command']}` at {context['commit']}; torch {torch.__version__}; "
        f"{machine('cpu')}; {context['minutes']:.1f} min"
        + (f" (training and its validations {min(train_min):.1f}-{max(train_min):.1f} min per "
           'model)' if train_min else '')
        + f"; load average {context['load'][0]} at the start, {context['load'][1]} at the "
        'end.', '',
        f'Each model is `{CONFIG}` (RTMDet-tiny from scratch) with its attention in the '
        f"backbone's CSP layers, trained for {cfg.train_cfg.max_iters} iterations of "
        f'{cfg.train_dataloader.batch_size} images (seed {cfg.randomness.seed}) on '
        f"{sizes['train']} synthetic {h} x {w} images (`demo/synthetic_coco.py`) and tested by "
        f"`tools/test.py` on {sizes['val']} more (its EMA weights; AP x 100). Time: the trained "
        'models in one process, a training step (forward, backward, AdamW step) on one fixed '
        f'batch of {cfg.train_dataloader.batch_size} and inference on one image (the network: no '
        'box decoding or NMS, whose cost follows how many boxes pass the score threshold), in '
        f'{rounds} '
        f'interleaved rounds after {args.warmup} warm-up(s): median seconds, and the median of '
        f'the per-round ratios to {BASELINE} with its distribution-free interval (order '
        f'statistics: {coverage_for(rounds, conf):.1%} coverage with {rounds} rounds).', '',
        table(results, counts, summary), '', NOTE, '', f'![RTMDet-tiny attention]({chart})', ''])


COLOURS = {BASELINE: 'tab:blue', 'CGD': 'tab:orange', 'none': 'tab:gray'}


def draw_chart(results: dict, counts: dict, summary: dict, confidence: float, path) -> None:
    """Validation AP over the iterations; the attention's parameters; time as ratios to the
    baseline with their intervals, the median seconds written above the bars."""
    fig = Figure(figsize=(15, 4.4))  # no pyplot: no global backend to select
    ax_ap, ax_params, ax_time = fig.subplots(1, 3, gridspec_kw=dict(width_ratios=[1.3, 1, 1]))
    labels = {name: label for name, (label, _) in VARIANTS.items()}
    for name, r in results.items():
        if r['curve']:
            its, values = zip(*r['curve'])
            ax_ap.plot(its, [100 * v for v in values], '-o', color=COLOURS[name],
                       label=f"{labels[name]} (test {ap(r['metrics']['bbox_mAP'])})")
    ax_ap.set(title='validation bbox AP (0.5:0.95) x 100', xlabel='iteration', ylabel='AP')
    ax_ap.set_ylim(bottom=0)
    ax_ap.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_ap.grid(alpha=0.3)
    ax_ap.legend(fontsize=8)

    names = list(VARIANTS)
    attention = [counts[n]['attention'] / 1e3 for n in names]
    ax_params.bar(range(len(names)), attention, color=[COLOURS[n] for n in names])
    for x, name in enumerate(names):
        ax_params.annotate(f"{counts[name]['attention']:,}\n(detector "
                           f"{counts[name]['detector'] / 1e6:.3f} M)", (x, attention[x]),
                           xytext=(0, 3), textcoords='offset points', ha='center',
                           va='bottom', fontsize=8)
    ax_params.set_xticks(range(len(names)), [labels[n] for n in names], fontsize=8)
    ax_params.set(title='attention parameters', ylabel='thousands')
    ax_params.set_ylim(0, max(max(attention), 1) * 1.25)

    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + (i - 1) * width for j in range(len(MEASURES))]
        t = [summary[name][m] for m in MEASURES]
        ivs = [s['ratio'] for s in t]
        medians = [iv.median if iv else 1.0 for iv in ivs]
        err = [[iv.median - iv.low if iv else 0 for iv in ivs],
               [iv.high - iv.median if iv else 0 for iv in ivs]]
        ax_time.bar(xs, medians, width, yerr=err, capsize=3, color=COLOURS[name],
                    label=labels[name])
        for x, s, top in zip(xs, t, (m + e for m, e in zip(medians, err[1]))):
            ax_time.annotate(f"{s['seconds']:.3f} s", (x, top), xytext=(0, 3),
                             textcoords='offset points', ha='center', va='bottom', fontsize=7)
    ax_time.axhline(1.0, color='k', lw=0.8)
    ax_time.set_xticks(range(len(MEASURES)), MEASURES)
    ax_time.set(title=f'CPU time, median ratio ({confidence:.0%} interval)',
                ylabel=f'x {BASELINE}')
    ax_time.set_ylim(0, max(1.3, ax_time.get_ylim()[1]) * 1.2)
    ax_time.legend(fontsize=8, loc='upper center', ncol=len(names))
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def git(*args) -> str:
    return subprocess.run(['git', *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def commit() -> str:
    sha = git('rev-parse', '--short', 'HEAD') or 'an unknown commit'
    return sha + (' (tracked files changed)' if git('status', '--porcelain', '-uno') else '')


def load() -> str:
    return '/'.join(f'{x:.2f}' for x in os.getloadavg())


def check_settings(work: Path, settings: dict) -> None:
    """Refuse a work dir whose runs were made with other settings: their checkpoints would be
    taken for this study's."""
    path = work / 'settings.json'
    if path.is_file() and json.loads(path.read_text()) != settings:
        sys.exit(f'error: {work} holds runs made with other settings (see {path}); give another '
                 '--work-dir, or delete it to start again')
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=1))


def main(argv=None):
    args = parse_args(argv)
    started, t0, load_start = datetime.datetime.now(datetime.timezone.utc), time.time(), load()
    if os.getloadavg()[0] >= 1:
        log(f'warning: load average {load_start} before starting: other processes compete for '
            'the cores, expect slower training and wider intervals')
    work = Path(args.work_dir)
    sizes = ensure_dataset(args)
    config = load_config([])
    max_iters = args.max_iters or config.train_cfg.max_iters
    shared = run_options(args, config, max_iters)
    check_settings(work, dict(config=CONFIG, options=shared,
                              variants={k: v[1] for k, v in VARIANTS.items()}))
    # the variant's own options last: they make it the variant it is named
    options = {name: shared + variant for name, (_, variant) in VARIANTS.items()}
    with ThreadPoolExecutor(args.jobs) as pool:  # each variant's tools run in processes
        futures = {name: pool.submit(train_and_test, name, work / name, options[name],
                                     max_iters, args.jobs > 1) for name in VARIANTS}
        try:
            results = {name: future.result() for name, future in futures.items()}
        except BaseException:  # a tool failed: start no other variant
            pool.shutdown(cancel_futures=True)
            raise
    configs = {name: load_config(options[name]) for name in VARIANTS}
    counts, times = measure(configs, results, args)
    summary = time_summary(times, args.confidence)

    command = shlex.join(['python', '.dev_scripts/compare_rtmdet_attention.py',
                          *(sys.argv[1:] if argv is None else argv)])
    context = dict(started=started, command=command, commit=commit(), sizes=sizes,
                   config=configs[BASELINE], minutes=(time.time() - t0) / 60,
                   load=(load_start, load()))
    markdown = render(args, context, results, counts, summary)
    for path in (args.markdown, args.chart):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown)
    draw_chart(results, counts, summary, args.confidence, args.chart)
    raw = dict(command=command, commit=context['commit'], started=f'{started:%Y-%m-%d %H:%M} UTC',
               machine=machine('cpu'), torch=torch.__version__, sizes=sizes, results=results,
               parameters=counts, times={f'{n} / {m}': pairs for (n, m), pairs in times.items()})
    args.markdown.with_suffix('.json').write_text(json.dumps(raw, indent=1))
    print(f'\n{markdown}')
    log(f'wrote {args.markdown}, {args.markdown.with_suffix(".json")} and {args.chart}')


if __name__ == '__main__':
    main()
