"""The CPU demo: synthetic data -> train a CGD Mask R-CNN -> COCO bbox/segm metrics -> pictures.

    python demo/synthetic_demo.py                 # CGD model and its baseline, side by side
    python demo/synthetic_demo.py --no-baseline   # CGD model only

Everything it writes goes under --work-dir (default work_dirs/demo): each model's checkpoints and
logs, results.md, predictions.png, curves.png, heatmap.png. A model whose final checkpoint exists
is not trained again.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
from figures import plot_training_curves, prediction_grid  # demo/figures.py, beside this script
from synthetic_coco import SyntheticSpec, data_root_options, write_dataset

from mmdet_cgd.apis import load_detector
from mmdet_cgd.cli.test import read_test_metrics
from mmdet_cgd.visualization import heatmap_grid, save_image

# short name (work dir, heatmap row) -> (table name, config)
MODELS = {
    'CGD': ('Mask R-CNN R18-FPN + CGD', 'configs/demo/mask-rcnn_r18-cgd_fpn_synthetic.py'),
    'baseline': ('Mask R-CNN R18-FPN', 'configs/demo/mask-rcnn_r18_fpn_synthetic.py'),
}
METRIC_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'segm_mAP',
               'segm_mAP_50', 'segm_mAP_75')
SYNTHETIC_NOTE = ('Synthetic shapes, not COCO: the CGD/baseline gap here says nothing about '
                  'COCO, where the paper reports +1.5 box AP for Mask R-CNN R50-FPN.')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default='data/synthetic')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--no-baseline', action='store_true', help='train the CGD model only')
    parser.add_argument('--max-iters', type=int, help='training iterations (config: 1000)')
    parser.add_argument('--num-train', type=int, default=400, help='generated train images')
    parser.add_argument('--num-val', type=int, default=100, help='generated val images')
    parser.add_argument('--image-size', type=int, default=256)
    parser.add_argument('--num-pictures', type=int, default=4, help='val images in the pictures')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra config overrides for training and testing, key=value')
    return parser.parse_args()


def run_tool(command: str, *args, options: Sequence[str] = ()) -> float:
    """Run our ``train`` or ``test`` command in a fresh Python process, output streamed; returns
    its wall time (s)."""
    cmd = [sys.executable, '-m', f'mmdet_cgd.cli.{command}', *map(str, args)]
    if options:
        cmd += ['--cfg-options', *options]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, PYTHONUNBUFFERED='1'))
    return time.perf_counter() - start


def metrics_table(results: Dict[str, Dict]) -> str:
    """Markdown table: one row per model, COCO AP columns (0-100) and wall times."""
    head = '| model | ' + ' | '.join(k.replace('_mAP', ' AP') for k in METRIC_KEYS) + \
        ' | train+val time | test time |'
    lines = [head, '|' + '---|' * (len(METRIC_KEYS) + 3)]
    for name, r in results.items():
        aps = ' | '.join(f"{100 * r['metrics'][f'coco/{k}']:.1f}" for k in METRIC_KEYS)
        lines.append(f"| {name} | {aps} | {r['train_s'] / 60:.1f} min | {r['test_s']:.0f} s |")
    return '\n'.join(lines)


def schedule_options(max_iters: Optional[int]) -> List[str]:
    """Validation records stamped with their iteration (mmengine's default stamps the epoch, 0
    all along this run, and the curves could not place them); with ``max_iters``, validation and
    checkpoints 4 times a run and 20 loss records (the config: every 25 of 1000 iterations)."""
    options = ['default_hooks.logger.log_metric_by_epoch=False']
    if max_iters is not None:
        quarter = max(1, max_iters // 4)
        options += [f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={quarter}',
                    f'default_hooks.checkpoint.interval={quarter}',
                    f'default_hooks.logger.interval={max(1, max_iters // 20)}']
    return options


def ensure_dataset(args) -> Path:
    root = Path(args.data_root)
    if all((root / 'annotations' / f'instances_{s}.json').is_file() for s in ('train', 'val')):
        print(f'[demo] using the dataset in {root}')
        return root
    start = time.perf_counter()
    write_dataset(root, SyntheticSpec(args.num_train, args.image_size, seed=0),
                  SyntheticSpec(args.num_val, args.image_size, seed=1))
    print(f'[demo] wrote {args.num_train} train + {args.num_val} val synthetic images to {root} '
          f'in {time.perf_counter() - start:.1f} s')
    return root


def train_and_test(name, config, work_dir: Path, options, max_iters) -> dict:
    final = work_dir / f'iter_{max_iters}.pth'
    if final.is_file():
        print(f'[demo] {name}: {final} exists, not training again')
        train_s = float((work_dir / 'train_seconds.txt').read_text())
    else:
        print(f'[demo] training {name} ({config}) for {max_iters} iterations')
        train_s = run_tool('train', config, '--work-dir', work_dir, options=options)
        (work_dir / 'train_seconds.txt').write_text(f'{train_s:.1f}')
    print(f'[demo] evaluating {name} on the val split (COCO bbox + segm)')
    test_s = run_tool('test', config, final, '--work-dir', work_dir / 'test', options=options)
    return dict(config=config, checkpoint=final, work_dir=work_dir, train_s=train_s,
                test_s=test_s, metrics=read_test_metrics(work_dir / 'test'))


def main():
    args = parse_args()
    work_root = Path(args.work_dir)
    data_root = ensure_dataset(args)
    # the user's --cfg-options last: they override the demo's
    options = [*data_root_options(data_root), *schedule_options(args.max_iters),
               *args.cfg_options]
    max_iters = args.max_iters
    if max_iters is None:
        from mmengine.config import Config
        max_iters = Config.fromfile(MODELS['CGD'][1]).train_cfg.max_iters

    keys = ['CGD'] if args.no_baseline else ['CGD', 'baseline']
    results = {key: train_and_test(*MODELS[key], work_root / key, options, max_iters)
               for key in keys}

    print('[demo] drawing the pictures')
    val_dir = data_root / 'val'
    val_images = [cv2.imread(str(p)) for p in sorted(val_dir.glob('*.png'))[:args.num_pictures]]
    # baseline row above the CGD row, as in the paper's figure
    models = {key: load_detector(results[key]['config'], str(results[key]['checkpoint']))
              for key in reversed(keys)}
    pictures = {
        'predictions.png': prediction_grid(models, val_images),
        'heatmap.png': heatmap_grid(models, val_images),
    }
    for file_name, image in pictures.items():
        save_image(work_root / file_name, image)
    drawn = list(pictures)
    try:
        plot_training_curves({key: r['work_dir'] for key, r in results.items()},
                             work_root / 'curves.png')
        drawn.append('curves.png')
    except ValueError as e:  # logs of a run trained before the demo stamped val iterations
        print(f'[demo] curves.png not drawn: {e}')

    table = metrics_table({MODELS[key][0]: r for key, r in results.items()})
    (work_root / 'results.md').write_text(f'{table}\n\n{SYNTHETIC_NOTE}\n')
    print(f'\n[demo] COCO metrics on the synthetic val split (AP x 100):\n\n{table}\n')
    if len(results) > 1:
        print(SYNTHETIC_NOTE)
    print(f'[demo] pictures: {", ".join(str(work_root / f) for f in drawn)}')


if __name__ == '__main__':
    main()
