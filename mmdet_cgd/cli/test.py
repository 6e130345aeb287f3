"""Evaluate a checkpoint: mmdet's tools/test.py command line, plus CPU (gloo) distributed runs.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] [--show-dir DIR]
                                          [--cfg-options k=v ...] [--launcher ...]
                                          [--tta] [--trust-checkpoint]
"""
import argparse
import json
from copy import deepcopy
from pathlib import Path
from typing import Dict

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmengine.config import Config, ConfigDict

from mmdet_cgd.checkpoint import CheckpointError
from mmdet_cgd.utils.errors import AnnotationError

from .common import (
    check_tool_config,
    exit_on_user_error,
    load_tool_config,
    parse_tool_args,
    run_checked,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a .pkl file for offline evaluation')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='save painted predictions under work_dir/<time>/DIR')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (flip), as '
                        "mmdet's tools/test.py: the config's tta_model / tta_pipeline if set")
    args = parse_tool_args(parser, argv)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must name a .pkl or .pickle file, got {args.out!r}')
    return args


def apply_tta(cfg: Config) -> None:
    """What mmdet's tools/test.py does for ``--tta``: wrap the model in ``tta_model`` (default
    ``DetTTAModel`` with NMS) and test with ``tta_pipeline`` (default: the test pipeline with a
    flipped and an unflipped view)."""
    if 'tta_model' not in cfg:
        cfg.tta_model = dict(type='DetTTAModel', tta_cfg=dict(
            nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    if 'tta_pipeline' not in cfg:
        dataset = cfg.test_dataloader.dataset
        while 'dataset' in dataset:
            dataset = dataset['dataset']
        cfg.tta_pipeline = deepcopy(dataset.pipeline)
        cfg.tta_pipeline[-1] = dict(type='TestTimeAug', transforms=[
            [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
            [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                   'scale_factor', 'flip', 'flip_direction'))]])
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def prepare_config(args) -> Config:
    """The config the Runner gets, after every check that can fail with a clear message."""
    cfg = load_tool_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        apply_tta(cfg)
    check_tool_config(cfg, ('test_dataloader', ), not args.skip_data_check,
                      trust=args.trust_checkpoint)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    with exit_on_user_error():
        cfg = prepare_config(args)

    def test(runner):
        if args.out is not None:
            runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
        return runner.test()

    return run_checked(cfg, ('test', ), test, (AnnotationError, CheckpointError))


def read_test_metrics(work_dir) -> Dict[str, float]:
    """The metrics json that a test run writes under ``work_dir/<timestamp>/``."""
    files = sorted(Path(work_dir).glob('*/*.json'))
    if not files:
        raise FileNotFoundError(f'no metrics json under {work_dir}')
    return json.loads(files[-1].read_text())


if __name__ == '__main__':
    main()
