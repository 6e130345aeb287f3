"""Whether a checkpoint's weights fit a model exactly, and an error that says what to do if not.

mmengine loads with ``strict=False`` and only logs a mismatch, so a plain ResNet checkpoint given
to a CGD config trains with random CGD layers, and a classifier checkpoint whose keys start with
``backbone.`` loads nothing. Here wrappers (``state_dict``, ``model``, ``module.``) and the
``backbone.`` prefix are undone, and every key must match, in name and shape, except the keys a
config declares new (``new_keys``) or unused (``unused_keys``): substrings, as mmengine's
``paramwise_cfg.custom_keys``.
"""
import re
from typing import Dict, Optional, Sequence

import torch

from mmdet_cgd.utils.errors import CheckpointError

SHOWN = 10  # keys listed per kind in an error
# the CGD authors' ImageNet checkpoints, which ``convert_imagenet`` turns into ours: CGD under
# ``<block>.attention.`` (``w0..w2, bias0..bias2``, or ``squeeze{0,1,2}.0.*`` in an older layer)
AUTHORS_CGD_KEY = re.compile(r'^(layer\d+\.\d+|layers\.\d+)\.attention\.'
                             r'(?:(w|bias)([012])|squeeze([012])\.0\.(weight|bias))$')
CLASSIFIER_KEY = re.compile(r'^(fc|linear)\.(weight|bias)$')  # their ResNet's, MobileNet's
CONVERTER = 'tools/model_converters/convert_imagenet_checkpoint.py'


class CheckpointMismatchError(CheckpointError):
    """Weights whose names or shapes do not fit the model they are loaded into."""


def unwrap_state_dict(checkpoint: Dict, source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """The tensors of ``checkpoint``: under ``state_dict`` or ``model`` if wrapped, without a
    ``module.`` (DataParallel) prefix."""
    state = checkpoint
    for wrapper in ('state_dict', 'model'):
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointMismatchError(
            f'{source}: expected a state dict of tensors (maybe under "state_dict" or "model"), '
            f'got non-tensor entries {not_tensors[:SHOWN]}')
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return dict(state)


def _select_prefix(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def select_weights(state: Dict[str, torch.Tensor], expected: Sequence[str],
                   prefix: Optional[str] = None,
                   source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """The part of ``state`` meant for a module with keys ``expected``: under ``prefix`` if
    given, else whichever of the whole and its ``backbone.`` part shares more keys with it (a
    detector's or mmpretrain classifier's checkpoint given as a backbone's weights)."""
    if prefix:
        selected = _select_prefix(state, prefix)
        if not selected:
            raise CheckpointMismatchError(
                f'{source}: no key starts with prefix {prefix!r}; its keys look like '
                f'{sorted(state)[:5]}')
        return selected
    expected = set(expected)
    backbone = _select_prefix(state, 'backbone.')
    if len(expected & set(backbone)) > len(expected & set(state)):
        return backbone
    return state


def _matching(keys, patterns: Sequence[str]):
    return [k for k in keys if not any(p in k for p in patterns)]


def _advice(expected, missing, unexpected, misshapen, path: Optional[str]) -> list:
    """What to do, recognising the CGD authors' ImageNet layouts (CGD under ``.attention.``,
    classifier ``fc``/``linear``), which the converter turns into ours."""
    convert = f'python {CONVERTER} {path or "SRC"} DST.pth'
    if any(AUTHORS_CGD_KEY.match(k) for k in unexpected):
        return ["it is a CGD authors' ImageNet checkpoint (CGD under <block>.attention.): "
                f'convert it once with {convert} and give DST.pth instead']
    advice = []
    if missing and not misshapen and all('.cgd.' in k for k in missing):
        if any(k.startswith('layers.') for k in expected):
            advice.append("it has no CGD weights (a plain MobileNet?): declare them new with "
                          "new_keys=['.cgd.'] in the init_cfg (there is no MobileNet "
                          '*-cgd-identity config)')
        else:
            advice.append("it has no CGD weights (a plain ResNet?): use a *-cgd-identity "
                          "config, or declare them new with new_keys=['.cgd.'] in the init_cfg")
    if unexpected and all(CLASSIFIER_KEY.match(k) for k in unexpected):
        head = sorted({k.split('.')[0] + '.' for k in unexpected})
        advice.append(f"its {head} keys are an ImageNet classifier's: convert it with {convert}"
                      f' (which drops them), or declare them unused_keys={head}')
    return advice


def check_fit(expected: Dict[str, torch.Tensor], state: Dict[str, torch.Tensor],
              new_keys: Sequence[str] = (), unused_keys: Sequence[str] = (),
              source: str = 'checkpoint', hint: str = '', path: Optional[str] = None) -> None:
    """Raise ``CheckpointMismatchError`` naming the missing, unexpected and misshapen keys;
    ``num_batches_tracked`` counters may be missing (old torchvision files lack them).
    ``path``: the file, named in the converter command for an authors' checkpoint."""
    missing = _matching(sorted(set(expected) - set(state)), list(new_keys) +
                        ['num_batches_tracked'])
    unexpected = _matching(sorted(set(state) - set(expected)), unused_keys)
    misshapen = [f'{k}: checkpoint {tuple(state[k].shape)}, model {tuple(v.shape)}'
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if not (missing or unexpected or misshapen):
        return
    parts = []
    for kind, keys in (('missing', missing), ('unexpected', unexpected),
                       ('shape mismatches', misshapen)):
        if keys:
            more = f' and {len(keys) - SHOWN} more' if len(keys) > SHOWN else ''
            parts.append(f'{len(keys)} {kind}: {keys[:SHOWN]}{more}')
    advice = _advice(expected, missing, unexpected, misshapen, path)
    if hint:
        advice.append(hint)
    advice.append('check that the checkpoint is for this architecture (depth, plugins, classes)')
    raise CheckpointMismatchError(f'{source} does not fit the model ({"; ".join(parts)}); '
                                  + '; '.join(advice))
