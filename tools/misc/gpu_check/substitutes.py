"""mmcv's NMS and RoIAlign through torchvision's kernels, for a GPU whose mmcv has no CUDA ops
(building them takes longer than a GPU session has, issue #25). Same semantics: torchvision's
``roi_align`` with ``aligned=True`` is mmcv's (mmcv's ``RoIAlign(use_torchvision=True)`` is its
own switch for it), and its ``nms`` is mmcv's with ``offset=0``, mmdet's only use.

mmcv's Python reaches its compiled ``_ext`` through each op module's ``ext_module``: ``NMSop``
calls ``ext_module.nms`` (every ``batched_nms`` of mmdet's heads ends there) and ``roi_align``
(mmdet's mask targets) ``ext_module.roi_align_forward``. ``torchvision_ops()`` points the
``ext_module`` of every loaded ``mmcv.ops`` module at a stand-in that serves these two from
torchvision and any other name from mmcv's own (with ``strict``: refuses it, naming it), for as
long as the context lasts; mmcv's files are untouched. Configs select it with
``TorchvisionOpsHook`` and ``use_torchvision`` on their RoI layers (``CFG_OPTIONS``), so
``tools/dist_train.sh`` runs with it too. The stand-in counts its calls: the record says they ran.
"""
import contextlib
import copy
import sys
from collections import Counter

import torch
import torchvision
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

SERVED = ('nms', 'roi_align_forward')
# for tools/train.py --cfg-options: the hook and the RoI layers of a two-stage detector
CFG_OPTIONS = ['custom_imports.imports=[mmdet_cgd,gpu_check.substitutes]',
               'custom_hooks=[dict(type=TorchvisionOpsHook)]',
               'model.roi_head.bbox_roi_extractor.roi_layer.use_torchvision=True',
               'model.roi_head.mask_roi_extractor.roi_layer.use_torchvision=True']


class TorchvisionExt:
    """Stands in for ``mmcv._ext``: ``SERVED`` from torchvision, the rest from ``ext``."""

    def __init__(self, ext, strict: bool):
        self._ext, self._strict, self.calls = ext, strict, Counter()

    def nms(self, bboxes, scores, iou_threshold, offset):
        if offset != 0:
            raise ValueError(f'torchvision.ops.nms has no offset; mmcv was asked for {offset}')
        self.calls['nms'] += 1
        return torchvision.ops.nms(bboxes, scores.to(bboxes.dtype), float(iou_threshold))

    def roi_align_forward(self, input, rois, output, argmax_y, argmax_x, aligned_height,
                          aligned_width, spatial_scale, sampling_ratio, pool_mode, aligned):
        if pool_mode != 1:
            raise ValueError("torchvision's roi_align averages; mmcv was asked for max pooling")
        self.calls['roi_align'] += 1
        output.copy_(torchvision.ops.roi_align(input, rois.to(input.dtype),
                                               (aligned_height, aligned_width), spatial_scale,
                                               sampling_ratio, aligned))

    def __getattr__(self, name):
        if self._strict:
            raise RuntimeError(f"mmcv's compiled op {name!r} has no torchvision substitute")
        return getattr(self._ext, name)


@contextlib.contextmanager
def torchvision_ops(strict: bool = False):
    """Within: mmcv's NMS and RoIAlign run torchvision's kernels; yields the stand-in."""
    import mmcv.ops  # noqa: F401 (loads every op module and mmcv._ext)
    modules = [m for name, m in list(sys.modules.items())
               if name.startswith('mmcv.ops.') and hasattr(m, 'ext_module')]
    originals = [m.ext_module for m in modules]
    stand_in = TorchvisionExt(originals[0], strict)
    for module in modules:
        module.ext_module = stand_in
    try:
        yield stand_in
    finally:
        for module, ext in zip(modules, originals):
            module.ext_module = ext


def use_torchvision_roi_align(cfg) -> int:
    """``use_torchvision=True`` on every ``RoIAlign`` in a (model) config; how many."""
    count = 0
    if isinstance(cfg, dict):
        if cfg.get('type') == 'RoIAlign':
            cfg['use_torchvision'] = True
            count += 1
        for value in cfg.values():
            count += use_torchvision_roi_align(value)
    elif isinstance(cfg, (list, tuple)):
        count += sum(use_torchvision_roi_align(v) for v in cfg)
    return count


@HOOKS.register_module()
class TorchvisionOpsHook(Hook):
    """``torchvision_ops()`` for the whole run; logs how often each substitute ran."""
    priority = 'VERY_HIGH'

    def before_run(self, runner):
        self._context = torchvision_ops()
        self.stand_in = self._context.__enter__()

    def after_run(self, runner):
        self._context.__exit__(None, None, None)
        runner.logger.info('TorchvisionOpsHook: torchvision substitutes ran '
                           + ', '.join(f'{n} x{c}' for n, c in sorted(self.stand_in.calls.items())))


def describe(calls: Counter) -> str:
    """What ran: the stand-in's calls (roi_align: mmdet's mask targets), and the RoI layers."""
    return 'torchvision substitutes for mmcv ops: ' + (
        ', '.join(f'{n} x{c}' for n, c in sorted(calls.items())) or 'none ran') + (
        "; RoI layers: mmcv's RoIAlign(use_torchvision=True)")


def same_detections(device: str = 'cpu', images: int = 2, size: int = 160) -> dict:
    """The demo Mask R-CNN (random weights, so many boxes reach NMS) on the same synthetic
    batch: predictions and training losses with mmcv's own compiled CPU ops, then with the
    substitutes (strict: nothing else of mmcv's compiled ops ran). Same boxes, scores, labels
    and masks, same losses, within ``TOLERANCE``."""
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import mmdet_cgd  # noqa: F401

    from .detection import DEMO_CONFIG
    register_all_modules()
    cfg = Config.fromfile(str(DEMO_CONFIG)).model
    cfg.backbone.init_cfg = None
    cfg.test_cfg.rcnn.score_thr = 0.0  # random weights: keep every box for the comparison
    torch.manual_seed(0)
    mmcv_model = MODELS.build(cfg).to(device)
    mmcv_model.init_weights()
    tv_cfg = copy.deepcopy(cfg)
    assert use_torchvision_roi_align(tv_cfg) == 2, 'expected the bbox and mask RoI layers'
    tv_model = MODELS.build(tv_cfg).to(device)
    tv_model.load_state_dict(mmcv_model.state_dict())
    torch.manual_seed(1)
    packed = demo_mm_inputs(images, [[3, size, size]] * images, num_items=[4] * images,
                            num_classes=5, with_mask=True, device=device)

    def run(model):
        model.eval()
        with torch.no_grad():
            data = model.data_preprocessor(packed, False)
            preds = model(**data, mode='predict')
        model.train()
        torch.manual_seed(2)  # the samplers draw the same proposals
        data = model.data_preprocessor(packed, True)
        losses = model(**data, mode='loss')
        total, _ = model.parse_losses(losses)
        total.backward()
        return preds, {k: float(sum(v).detach() if isinstance(v, list) else v.detach())
                       for k, v in losses.items()}

    ref_preds, ref_losses = run(mmcv_model)
    with torchvision_ops(strict=True) as stand_in:
        tv_preds, tv_losses = run(tv_model)
    worst = dict(boxes=0.0, scores=0.0, masks=0, losses=0.0)
    counts = []
    for a, b in zip(ref_preds, tv_preds):
        a, b = a.pred_instances, b.pred_instances
        counts.append(len(a))
        if len(a) != len(b) or not torch.equal(a.labels, b.labels):
            raise AssertionError(f'different detections: {len(a)} boxes with mmcv, {len(b)} '
                                 'with torchvision (or other labels)')
        worst['boxes'] = max(worst['boxes'], (a.bboxes - b.bboxes).abs().max().item())
        worst['scores'] = max(worst['scores'], (a.scores - b.scores).abs().max().item())
        worst['masks'] = max(worst['masks'], (a.masks != b.masks).sum().item())
    for name, value in ref_losses.items():
        worst['losses'] = max(worst['losses'], abs(value - tv_losses[name]))
    bad = {k: v for k, v in worst.items() if v > TOLERANCE[k]}
    if bad:
        raise AssertionError(f'substitutes differ from mmcv beyond {TOLERANCE}: {bad}')
    return dict(summary=f'demo Mask R-CNN, {images} images {size}x{size}: the same '
                        f'{sum(counts)} detections (boxes within {worst["boxes"]:.1e}, scores '
                        f'{worst["scores"]:.1e}, {worst["masks"]} mask pixels differ) and losses '
                        f'within {worst["losses"]:.1e}; {describe(stand_in.calls)}',
                worst=worst, calls=dict(stand_in.calls), detections=counts)


# float32 kernels summing in another order: boxes in pixels, scores, mask pixels, losses
TOLERANCE = dict(boxes=1e-3, scores=1e-5, masks=0, losses=1e-5)
