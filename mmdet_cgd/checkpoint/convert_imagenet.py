"""Convert the CGD authors' ImageNet ResNet checkpoints into backbone checkpoints for CGDResNet.

Their classification format: torchvision ResNet names, CGD under ``<block>.attention.`` named
``w0..w2, bias0..bias2`` or, in an older variant of the layer, ``squeeze{0,1,2}.0.weight/bias``;
maybe a ``module.`` prefix (DataParallel) and maybe wrapped in ``{'state_dict': ...}``.
Ours: the same torchvision names, CGD under ``<block>.cgd.`` with the authors' shapes.
"""
import os
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from mmdet.registry import MODELS

from .fit import CheckpointMismatchError, check_fit, unwrap_state_dict
from .loading import load_checkpoint_file
from .writing import save_checkpoint_file

_BACKBONE_KEY = re.compile(r'^(conv1|bn1)\.|^layer\d+\.\d+\.(conv\d|bn\d|downsample\.[01])\.')
_CGD_KEY = re.compile(
    r'^(layer\d+\.\d+)\.attention\.(?:(w|bias)([012])|squeeze([012])\.0\.(weight|bias))$')
_CLASSIFIER_KEY = re.compile(r'^fc\.(weight|bias)$')
DEPTHS = {(2, 2, 2, 2): 18, (3, 4, 6, 3): None, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


class ConversionError(ValueError):
    """The input is not a checkpoint in the authors' format; the message lists what is off."""


def convert_state_dict(state: Dict[str, torch.Tensor]) -> Tuple[Dict, List[str], List[str]]:
    """Returns ``(converted, dropped_classifier_keys, unknown_keys)``."""
    converted, dropped, unknown = OrderedDict(), [], []
    for key, value in state.items():
        cgd = _CGD_KEY.match(key)
        if cgd:
            block, kind, index, sq_index, sq_kind = cgd.groups()
            is_weight = kind == 'w' or sq_kind == 'weight'
            index = index if index is not None else sq_index
            name = f'{block}.cgd.{"w" if is_weight else "bias"}{index}'
            shape = (-1, 1) if is_weight else (1, -1, 1, 1)
            converted[name] = value.reshape(shape).clone()
        elif _BACKBONE_KEY.match(key):
            converted[key] = value
        elif _CLASSIFIER_KEY.match(key):
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


def check_against_backbone(state: Dict[str, torch.Tensor], depth: int) -> None:
    """Load into a CGDResNet with CGD in every block: no missing, unexpected or misshapen key.
    (Built through mmdet's registry, as a config would: the models import the checkpoint code,
    not the other way.)"""
    model = MODELS.build(dict(type='CGDResNet', depth=depth,
                              plugins=[dict(cfg=dict(type='CGD'), position='before_norm1')]))
    try:
        check_fit(model.state_dict(), state,
                  source=f'converted weights (CGDResNet-{depth} with CGD in every block)')
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
    converted, dropped, unknown = convert_state_dict(state)
    if unknown and not skip_unknown:
        raise ConversionError(
            f'{src!r} has {len(unknown)} keys outside the CGD authors\' ResNet format '
            f'(expected conv1/bn1/layerN.M.{{conv,bn,downsample,attention}}/fc): '
            f'{unknown[:10]}; pass --skip-unknown to drop them')
    depth = infer_depth(converted)
    check_against_backbone(converted, depth)
    save_checkpoint_file(dict(state_dict=converted, meta=dict(source=os.path.basename(src),
                                                         depth=depth)), dst, force)
    n_cgd = sum('.cgd.' in k for k in converted)
    return dict(depth=depth, converted=len(converted), cgd=n_cgd, dropped=dropped,
                unknown=unknown)
