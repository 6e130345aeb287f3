"""A published checkpoint opens where ours could not: plain torch.load, mmdet's init_detector and
DetInferencer(weights=...) without a config, each in a fresh interpreter."""
import numpy as np
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from tool_helpers import DEMO_CONFIG, python

from mmdet_cgd.engine import WeightsOnlyCheckpointHook

register_all_modules()

FRESH_CHECKS = {
    'torch.load': ('import sys, torch; c = torch.load(sys.argv[1], weights_only=True); '
                   'assert "mmdet_cgd" not in sys.modules and sorted(c) == ["meta", "state_dict"]'),
    'init_detector': ('import sys; from mmdet.apis import init_detector; '
                      'm = init_detector(sys.argv[2], sys.argv[1], device="cpu"); '
                      'assert m.dataset_meta["classes"][0] == "disk"'),
    'DetInferencer': ('import sys, numpy as np; from mmdet.apis import DetInferencer; '
                      'inferencer = DetInferencer(weights=sys.argv[1], device="cpu"); '
                      'out = inferencer(np.zeros((64, 64, 3), np.uint8), no_save_vis=True); '
                      'assert len(out["predictions"]) == 1'),
}


def training_checkpoint(path):
    """What the Runner writes: weights, optimizer, message hub buffers, numpy values in meta."""
    cfg = Config.fromfile(str(DEMO_CONFIG))
    model = MODELS.build(cfg.model)
    model.init_weights()
    buffer = HistoryBuffer()
    buffer.update(0.5)
    checkpoint = dict(state_dict=model.state_dict(), optimizer=dict(state={}, param_groups=[]),
                      message_hub=dict(log_scalars={'train/loss': buffer}),
                      meta=dict(cfg=cfg.pretty_text, iter=np.int64(4), seed=0,
                                dataset_meta=dict(classes=cfg.metainfo['classes'])))
    WeightsOnlyCheckpointHook().before_save_checkpoint(None, checkpoint)  # as our configs save
    torch.save(checkpoint, path)


def test_published_checkpoint_opens_without_mmdet_cgd_first(tmp_path):
    training_checkpoint(tmp_path / 'iter_4.pth')
    proc = python('tools/model_converters/publish_model.py', tmp_path / 'iter_4.pth',
                  tmp_path / 'demo.pth')
    [published] = tmp_path.glob('demo-*.pth')
    assert f'wrote {published}' in proc.stdout and len(published.stem) == len('demo-') + 8
    for name, code in FRESH_CHECKS.items():
        proc = python('-c', code, published, DEMO_CONFIG, check=False)
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
    # the unpublished file cannot be read there: it holds mmengine's log buffers
    proc = python('-c', FRESH_CHECKS['torch.load'], tmp_path / 'iter_4.pth', check=False)
    assert proc.returncode != 0 and 'LogBuffer' in proc.stderr
