"""Convert the CGD authors' ImageNet checkpoints into backbone checkpoints for our CGD backbones
(with CGD, or the plain network when the file has none: the baseline configs' backbone).

Their classification formats, maybe with a ``module.`` prefix (DataParallel) and maybe wrapped in
``{'state_dict': ...}``; CGD under ``<block>.attention.`` named ``w0..w2, bias0..bias2`` or, in an
older variant of the layer, ``squeeze{0,1,2}.0.weight/bias``:

- ResNet (``models/imagenet/resnet.py``): torchvision names, classifier ``fc``. Ours: the same
  names (CGDResNet), CGD under ``<block>.cgd.``.
- MobileNet v1 (``models/imagenet/mobilenet.py``): stem ``conv1``/``bn1``, blocks
  ``layers.N.conv1/bn1/conv2/bn2``, classifier ``linear``. Ours: the same names (CGDMobileNet),
  CGD under ``layers.N.cgd.``.

    python tools/model_converters/convert_imagenet_checkpoint.py SRC.pth \
        checkpoints/cgd-resnet50_imagenet.pth
    python tools/model_converters/convert_imagenet_checkpoint.py model_best.pth.tar \
        checkpoints/cgd-mobilenet_imagenet.pth
"""
import argparse
import os
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.registry import MODELS

import mmdet_cgd  # noqa: F401  (registers the CGD backbones the weights are checked against)
from mmdet_cgd.checkpoint import load_checkpoint_file, save_checkpoint_file
from mmdet_cgd.checkpoint.fit import (
    AUTHORS_CGD_KEY,
    CheckpointMismatchError,
    check_fit,
    unwrap_state_dict,
)

# per layout: the backbone keys, the classifier keys, the format in words for errors
_LAYOUTS = {
    'ResNet': (re.compile(r'^(conv1|bn1)\.|^layer\d+\.\d+\.(conv\d|bn\d|downsample\.[01])\.'),
               re.compile(r'^fc\.(weight|bias)$'),
               'conv1/bn1/layerN.M.{conv,bn,downsample,attention}/fc'),
    'MobileNet': (re.compile(r'^(conv1|bn1)\.|^layers\.\d+\.(conv[12]|bn[12])\.'),
                  re.compile(r'^linear\.(weight|bias)$'),
                  'conv1/bn1/layers.N.{conv1,bn1,conv2,bn2,attention}/linear'),
}
DEPTHS = {(2, 2, 2, 2): 18, (3, 4, 6, 3): None, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}
MOBILENET_BLOCKS, MOBILENET_LAST_CHANNELS = 13, 1024
PAPER_CGD = [dict(cfg=dict(type='CGD'), position='before_norm1')]


class ConversionError(ValueError):
    """The input is not a checkpoint in the authors' format; the message lists what is off."""


def infer_layout(state: Dict[str, torch.Tensor]) -> str:
    """'MobileNet' (their blocks are ``layers.N``) or 'ResNet' (``layerN.M``)."""
    return 'MobileNet' if any(k.startswith('layers.') for k in state) else 'ResNet'


def convert_state_dict(state: Dict[str, torch.Tensor], layout: Optional[str] = None
                       ) -> Tuple[Dict, List[str], List[str]]:
    """Returns ``(converted, dropped_classifier_keys, unknown_keys)``."""
    backbone_key, classifier_key, _ = _LAYOUTS[layout or infer_layout(state)]
    converted, dropped, unknown = OrderedDict(), [], []
    for key, value in state.items():
        cgd = AUTHORS_CGD_KEY.match(key)
        if cgd and backbone_key.match(f'{cgd.group(1)}.conv1.'):
            block, kind, index, sq_index, sq_kind = cgd.groups()
            is_weight = kind == 'w' or sq_kind == 'weight'
            index = index if index is not None else sq_index
            name = f'{block}.cgd.{"w" if is_weight else "bias"}{index}'
            shape = (-1, 1) if is_weight else (1, -1, 1, 1)
            converted[name] = value.reshape(shape).clone()
        elif backbone_key.match(key):
            converted[key] = value
        elif classifier_key.match(key):
            dropped.append(key)
        else:
            unknown.append(key)
    return converted, dropped, unknown


def infer_depth(state: Dict[str, torch.Tensor]) -> int:
    blocks = [1 + max((int(m.group(1)) for k in state
                       for m in [re.match(rf'^layer{i}\.(\d+)\.', k)] if m), default=-1)
              for i in range(1, 5)]
    if tuple(blocks) not in DEPTHS:
        raise ConversionError(f'cannot tell the ResNet depth: blocks per stage {blocks}, '
                              f'expected one of {sorted(DEPTHS)}')
    depth = DEPTHS[tuple(blocks)]
    return depth or (50 if any('.conv3.' in k for k in state) else 34)


def infer_widen_factor(state: Dict[str, torch.Tensor]) -> float:
    """1.0 for their ``mobilenet.py``, 0.7 for ``mobilenet0.7.py`` (last block 717 channels)."""
    blocks = 1 + max((int(m.group(1)) for k in state for m in [re.match(r'^layers\.(\d+)\.', k)]
                      if m), default=-1)
    last = state.get(f'layers.{MOBILENET_BLOCKS - 1}.conv2.weight')
    if blocks != MOBILENET_BLOCKS or last is None:
        raise ConversionError(f'expected the {MOBILENET_BLOCKS} blocks of MobileNet v1 '
                              f'(layers.0 to layers.{MOBILENET_BLOCKS - 1}), got {blocks}')
    return round(last.shape[0] / MOBILENET_LAST_CHANNELS, 2)


def backbone_config(state: Dict[str, torch.Tensor], layout: str) -> Dict:
    """The backbone the converted weights are for: with CGD in every block when they hold CGD
    weights, else the plain network (the baseline configs' backbone)."""
    plugins = dict(plugins=PAPER_CGD) if any('.cgd.' in k for k in state) else {}
    if layout == 'MobileNet':
        return dict(type='CGDMobileNet', widen_factor=infer_widen_factor(state), **plugins)
    return dict(type='CGDResNet', depth=infer_depth(state), **plugins)


def describe(cfg: Dict) -> str:
    """'ResNet-50', 'MobileNet', 'MobileNet-0.7x'."""
    if cfg['type'] == 'CGDResNet':
        return f"ResNet-{cfg['depth']}"
    return 'MobileNet' if cfg['widen_factor'] == 1 else f"MobileNet-{cfg['widen_factor']}x"


def check_against_backbone(state: Dict[str, torch.Tensor], cfg: Dict) -> None:
    """Load into the backbone ``cfg``: no missing, unexpected or misshapen key. (Built through
    mmdet's registry, as a config would.)"""
    model = MODELS.build(cfg)
    try:
        cgd = 'with CGD in every block' if cfg.get('plugins') else 'without CGD'
        check_fit(model.state_dict(), state,
                  source=f'converted weights ({cfg["type"]} {describe(cfg)} {cgd})')
    except CheckpointMismatchError as e:
        raise ConversionError(str(e)) from e


def convert_checkpoint(src: str, dst: str, force: bool = False,
                       skip_unknown: bool = False) -> Dict:
    """Convert ``src`` into ``dst``; returns a report of what was mapped, dropped and skipped."""
    try:
        state = unwrap_state_dict(load_checkpoint_file(src), repr(src))
    except CheckpointMismatchError as e:
        raise ConversionError(str(e)) from e
    ours = next((k for k in state if k.startswith('backbone.') or '.cgd.' in k), None)
    if ours is not None:
        raise ConversionError(
            f'{src!r} already has mmdet/mmpretrain key names (e.g. {ours!r}): it needs no '
            'conversion; give it to a paper detection config as --cfg-options '
            f'model.backbone.init_cfg.checkpoint={src}')
    layout = infer_layout(state)
    converted, dropped, unknown = convert_state_dict(state, layout)
    if unknown and not skip_unknown:
        raise ConversionError(
            f'{src!r} has {len(unknown)} keys outside the CGD authors\' {layout} format '
            f'(expected {_LAYOUTS[layout][2]}): {unknown[:10]}; pass --skip-unknown to drop them')
    cfg = backbone_config(converted, layout)
    check_against_backbone(converted, cfg)
    arch = describe(cfg)
    meta = dict(source=os.path.basename(src), arch=arch,
                **{k: cfg[k] for k in ('depth', 'widen_factor') if k in cfg})
    save_checkpoint_file(dict(state_dict=converted, meta=meta), dst, force)
    n_cgd = sum('.cgd.' in k for k in converted)
    return dict(arch=arch, depth=cfg.get('depth'), widen_factor=cfg.get('widen_factor'),
                converted=len(converted), cgd=n_cgd, dropped=dropped, unknown=unknown)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="the authors' classification checkpoint")
    parser.add_argument('dst', help='where to write the backbone checkpoint')
    parser.add_argument('--force', action='store_true', help='overwrite an existing DST')
    parser.add_argument('--skip-unknown', action='store_true',
                        help='drop keys outside the known format instead of failing')
    args = parser.parse_args(argv)
    try:
        report = convert_checkpoint(args.src, args.dst, force=args.force,
                                    skip_unknown=args.skip_unknown)
    except (ValueError, FileExistsError, RuntimeError) as e:
        sys.exit(f'error: {e}')
    print(f"wrote {args.dst}: {report['arch']}, {report['converted']} tensors "
          f"({report['cgd']} CGD); dropped classifier keys {report['dropped']}")
    if report['unknown']:
        print(f"skipped {len(report['unknown'])} unknown keys: {report['unknown']}")


if __name__ == '__main__':
    main()
