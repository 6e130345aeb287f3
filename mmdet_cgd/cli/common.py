"""What the train and test commands share: reading the config as mmdet's tools do, checking
it and its checkpoints before anything trains or tests, and building the Runner (gloo on CPU)."""
import argparse
import contextlib
import os
import os.path as osp
import sys
from typing import Any, Callable, Iterator, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmdet_cgd.checkpoint import (
    CheckpointError,
    check_resumable,
    load_checkpoint_file,
    resolve_checkpoint,
    trust_checkpoints_in_this_process,
    trust_requested,
)
from mmdet_cgd.checkpoint.loading import TRUST_ENV, URL_PREFIXES, ZOO_PREFIXES
from mmdet_cgd.utils import config_dicts
from mmdet_cgd.utils.errors import AnnotationError, CGDConfigError

from .coco_checks import check_dataloader_data, check_loaded_categories, load_failure
from .cpu_distributed import end_distributed, prepare_cpu_distributed
from .plugin_checks import check_backbone_plugins

PRETRAINED_TYPES = ('StrictPretrained', 'Pretrained')
CONFIG_SUFFIXES = ('.py', '.yml', '.yaml', '.json')  # what mmengine's Config reads
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt', '.pth.tar', '.tar', '.bin')


def parse_tool_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Add the options train and test share (mmdet's names), parse, and set ``LOCAL_RANK``."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (e.g. train_cfg.max_iters=10, '
                        'model.backbone.init_cfg.checkpoint=PATH)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--skip-data-check', action='store_true',
                        help='do not check the COCO annotation files before starting')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load checkpoints with objects outside the allow-list (full '
                        f'unpickling: only for files you trust; same as {TRUST_ENV}=1)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_config_path(path: str) -> None:
    """Raise ``ValueError`` for a file mmengine cannot read as a config ("Only py/yml/yaml/json
    type are supported now!"), saying what it is: usually a checkpoint given first."""
    if path.endswith(CONFIG_SUFFIXES) or not osp.isfile(path):
        return  # a missing file: mmengine's FileNotFoundError names it
    with open(path, 'rb') as f:
        head = f.read(4)
    if path.endswith(CHECKPOINT_SUFFIXES) or head.startswith((b'PK', b'\x80')):
        raise ValueError(f'expected a config file ({"/".join(CONFIG_SUFFIXES)}) first, got the '
                         f'checkpoint {path!r}; the config comes first: tools/test.py CONFIG '
                         'CHECKPOINT, tools/train.py CONFIG [--resume CHECKPOINT]')
    raise ValueError(f'expected a config file ({"/".join(CONFIG_SUFFIXES)}), got {path!r}')


def load_tool_config(args) -> Config:
    """``args.config`` with ``--launcher``, ``--cfg-options`` and ``--work-dir`` applied."""
    if osp.isdir(args.config):
        found = sorted(p for p in os.listdir(args.config) if p.endswith('.py'))
        raise ValueError(f'expected a config file, got the directory {args.config!r}'
                         + (f'; it holds {found[:5]}' if found else ''))
    check_config_path(args.config)
    cfg = Config.fromfile(args.config)
    if 'model' not in cfg:
        raise ValueError(f'expected a detection config (a .py file that defines model=...), got '
                         f'{args.config!r}, which defines {sorted(cfg.keys())[:8]}')
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if isinstance(cfg.get('randomness'), dict) and 'seed' not in cfg.randomness:
        # mmengine calls set_randomness(**randomness), whose seed has no default
        cfg.randomness.seed = None
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def _pretrained_inits(cfg) -> Iterator:
    for where, node in config_dicts(cfg):
        init = node.get('init_cfg')
        for i, one in enumerate(init if isinstance(init, list) else [init]):
            if isinstance(one, dict) and one.get('type') in PRETRAINED_TYPES:
                yield f'{where}.init_cfg' + (f'[{i}]' if isinstance(init, list) else ''), one


def check_pretrained_files(model_cfg) -> None:
    """Raise for a pretrained-weights file the model's init will not find."""
    for where, init in _pretrained_inits(model_cfg):
        path = init.get('checkpoint')
        if isinstance(path, str) and not path.startswith(URL_PREFIXES + ZOO_PREFIXES) \
                and not osp.isfile(path):
            raise CheckpointError(
                f'pretrained weights not found: {where}.checkpoint={path!r} is not a file. '
                f'Convert or download them there, or set --cfg-options {where}.checkpoint=PATH '
                f'(to train from scratch: --cfg-options {where}=None)')


def check_tool_config(cfg: Config, dataloaders: Sequence[str], check_data: bool = True,
                      training: bool = False, trust: bool = False) -> None:
    """Raise a clear ``ValueError``/``CheckpointError`` for an unreadable, unsafe or (to resume)
    weights-only ``load_from``, a plugin mistake, a missing pretrained file or a broken COCO
    file, before the Runner is built. A URL ``load_from`` is downloaded here and replaced by its
    cached path, so the Runner reads it safely, not through mmengine's http loader."""
    if trust or trust_requested():
        trust_checkpoints_in_this_process()
    if cfg.get('load_from'):
        name = cfg.load_from
        cfg.load_from = resolve_checkpoint(name)
        checkpoint = load_checkpoint_file(cfg.load_from)  # refused or broken: stop right here
        if cfg.get('resume'):
            check_resumable(checkpoint, name)
    hooks = cfg.get('custom_hooks', [])
    if not any(isinstance(h, dict) and h.get('type') == 'CheckpointCheckHook' for h in hooks):
        cfg.custom_hooks = [*hooks, dict(type='CheckpointCheckHook')]  # as our configs select it
    check_backbone_plugins(cfg.model, cfg.get('default_scope') or 'mmdet')
    if training:
        check_pretrained_files(cfg.model)
    if check_data:
        check_dataloader_data(cfg, dataloaders)


def build_loops(runner: Runner, loops: Sequence[str]) -> None:
    """Build the Runner's ``loops`` ('train', 'val', 'test') and so their datasets now (the
    Runner uses them as built), so that annotations mmdet cannot use end in one line: a file
    that is not JSON, every image filtered out, none of the classes among its categories."""
    for name in loops:
        try:
            loop = getattr(runner, f'{name}_loop')
        except (ValueError, KeyError) as e:
            failure = load_failure(e, (runner.cfg.get(f'{name}_dataloader') or {}).get('dataset'))
            if failure is None:
                raise
            raise failure from e
        pending = [loop.dataloader.dataset]
        while pending:  # through Repeat/ClassBalanced (``dataset``) and Concat (``datasets``)
            dataset = pending.pop()
            check_loaded_categories(dataset)
            pending += [*getattr(dataset, 'datasets', ()), *filter(None, [
                getattr(dataset, 'dataset', None)])]


@contextlib.contextmanager
def exit_on_user_error(errors=(ValueError, CheckpointError, FileNotFoundError)):
    """A mistake in the command, config, data or checkpoint ends the tool with ``error: ...``
    and a non-zero status instead of a traceback; ``errors``: what counts as one here."""
    try:
        yield
    except errors as e:
        sys.exit(f'error: {e}')


def build_runner(cfg: Config) -> Runner:
    prepare_cpu_distributed(cfg)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def run_checked(cfg: Config, loops: Sequence[str], run: Callable[[Runner], Any], errors) -> Any:
    """Build the Runner and load its ``loops``' datasets, each mistake one ``error:`` line; then
    ``run`` it, ``errors`` ending in one line too (a checkpoint that does not fit among them:
    ``CheckpointCheckHook`` refuses it as the Runner loads it)."""
    with exit_on_user_error(errors=CGDConfigError):  # what only the model build can tell
        runner = build_runner(cfg)
    with exit_on_user_error(errors=AnnotationError):  # mmdet loads the annotations here
        build_loops(runner, loops)
    with exit_on_user_error(errors=errors):
        result = run(runner)
    del runner  # its DDP wrapper holds the process group
    end_distributed()
    return result
