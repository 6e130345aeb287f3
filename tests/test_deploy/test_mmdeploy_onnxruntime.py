"""CGD detectors exported through mmdeploy's Python API (``torch2onnx``) with our deploy config
(``configs/deploy/detection_onnxruntime_dynamic.py``) detect in ONNX Runtime what they detect in
PyTorch: the same boxes, labels and scores, matched one to one (docs/deployment.md).

The models are the configs' own, shrunk, with random weights saved to a checkpoint and made to
detect something: BatchNorm statistics taken from the test image (a random ResNet's activations
otherwise grow without bound), a classifier confident enough to pass the score thresholds, and
CGD acting (the test fails if the export drops it): the authors' init with biases drawn in
+-0.25, scaling activations by 10-20 %. (At the identity start it does nothing, and at the authors'
init almost nothing in wide layers: the softmax over C channels shrinks its attention.)
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

mmdeploy = pytest.importorskip(
    'mmdeploy', reason='mmdeploy is installed in the torch 2.1 environment only (make '
    'test-compat; docs/deployment.md): mmdeploy 1.3.1 pins protobuf<=3.20.2, under which the '
    "newest onnx (1.23) does not import, and its torch2onnx fails in torch 2.14's default ONNX "
    'exporter (torch.export: inputs and dynamic_shapes differ in structure)')

from mmdeploy.apis import torch2onnx  # noqa: E402
from mmdeploy.apis.utils import build_task_processor  # noqa: E402

from mmdet_cgd.models import CGD  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = REPO / 'configs' / 'deploy' / 'detection_onnxruntime_dynamic.py'
IMAGE_SIZE = 320  # the test pipeline's scale: small enough for seconds on a CPU
NUM_CLASSES = 5  # the synthetic data's
# Measured on the torch 2.1 stack: boxes within 6.1e-4 px, scores within 1.9e-5 (Faster R-CNN;
# RTMDet 4.6e-5 px, 2.9e-6): float32 in another order, grown through a random deep network.
BOX_ATOL, SCORE_ATOL = 5e-3, 2e-4


def faster_rcnn_cfg() -> Config:
    """The R50 CGD-identity Faster R-CNN at a quarter of its width."""
    cfg = Config.fromfile(REPO / 'configs/cgd/faster-rcnn_r50-cgd-identity_fpn_1x_coco.py')
    width = 16
    cfg.model.backbone.update(base_channels=width, init_cfg=None, zero_init_residual=False)
    cfg.model.neck.in_channels = [width * 4 * 2**i for i in range(4)]
    cfg.model.roi_head.bbox_head.num_classes = NUM_CLASSES
    # mmdeploy keeps one class per proposal (its best), mmdet every class above score_thr; a
    # softmax has at most one class above 0.5, so both keep the same pairs.
    cfg.model.test_cfg.rcnn.update(score_thr=0.5, max_per_img=1000)
    return cfg


def rtmdet_tiny_cfg() -> Config:
    """The CGD RTMDet-tiny as it is, bar the classes and the ImageNet checkpoint."""
    cfg = Config.fromfile(REPO / 'configs/cgd/rtmdet_tiny-cgd_8xb32-300e_coco.py')
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = NUM_CLASSES
    cfg.model.test_cfg.update(score_thr=0.5, max_per_img=1000)
    return cfg


def detection_test_cfg(cfg: Config):
    """The test_cfg that holds score_thr and max_per_img."""
    return cfg.model.test_cfg.get('rcnn', cfg.model.test_cfg)


def spaced_score_thr(scores: torch.Tensor, fewest: int = 10, most: int = 50) -> float:
    """A score_thr in the widest gap between the ``fewest``-th and ``most``-th highest scores:
    no score lies near it, so no rounding decides what passes."""
    assert len(scores) > most, f'{len(scores)} detections, expected more than {most}'
    top = scores.sort(descending=True).values[fewest - 1:most + 1]
    widest = (top[:-1] - top[1:]).argmax()
    return float(top[widest] + top[widest + 1]) / 2


def confident_faster_rcnn(model) -> None:
    """Class scores over 0.5 on dozens of proposals."""
    fc_cls = model.roi_head.bbox_head.fc_cls
    fc_cls.weight.normal_(std=0.02)
    fc_cls.bias.zero_()


def confident_rtmdet(model) -> None:
    """Class scores around 0.5; each box side about a stride from its point, as a trained head
    draws them (mmdet drops inverted boxes, mmdeploy keeps them)."""
    for rtm_cls, rtm_reg in zip(model.bbox_head.rtm_cls, model.bbox_head.rtm_reg):
        rtm_cls.weight.normal_(std=0.05)
        rtm_cls.bias.zero_()
        rtm_reg.bias.fill_(1.0)


def save_random_detector(task_processor, make_confident, image: str, path: Path) -> None:
    """A checkpoint of the config's model, random weights that detect something in ``image``."""
    torch.manual_seed(0)
    model = task_processor.build_pytorch_model()
    model.init_weights()
    with torch.no_grad():
        for layer in (m for m in model.modules() if isinstance(m, CGD)):
            layer.identity_init = False
            layer.reset_parameters()
            for bias in (layer.bias0, layer.bias1, layer.bias2):
                bias.uniform_(-0.25, 0.25)
        norms = [m for m in model.modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        for norm in norms:  # cumulative statistics of one forward of the image
            norm.reset_running_stats()
            norm.momentum = None
            norm.train()
        data, inputs = task_processor.create_input(image,
                                                   data_preprocessor=model.data_preprocessor)
        model._forward(inputs, data['data_samples'])
        model.eval()
        make_confident(model)
    torch.save({'state_dict': model.state_dict()}, path)


def detect(model, task_processor, image: str):
    data, inputs = task_processor.create_input(image, data_preprocessor=model.data_preprocessor)
    with torch.no_grad():
        return model(inputs, data['data_samples'], mode='predict')[0]


def assert_same_detections(got, expected):
    """Each expected detection has its own in ``got``: the same label, the box within BOX_ATOL
    and the score within SCORE_ATOL. ``got``'s boxes clipped to the image first: mmdeploy's
    RTMDet head leaves them unclipped, mmdet clips."""
    height, width = expected.ori_shape
    got, expected = got.pred_instances, expected.pred_instances
    assert len(got) == len(expected) > 0
    got.bboxes[:, 0::2] = got.bboxes[:, 0::2].clamp(0, width)
    got.bboxes[:, 1::2] = got.bboxes[:, 1::2].clamp(0, height)
    box_gap = (got.bboxes[:, None] - expected.bboxes[None]).abs().amax(-1)
    box_gap[got.labels[:, None] != expected.labels[None]] = float('inf')
    gap, match = box_gap.min(0)
    assert match.unique().numel() == len(expected), 'two expected boxes matched one'
    assert gap.max() <= BOX_ATOL, f'a box differs by {gap.max():.3g} px'
    score_gap = (got.scores[match] - expected.scores).abs().max()
    assert score_gap <= SCORE_ATOL, f'a score differs by {score_gap:.3g}'


@pytest.mark.parametrize('make_cfg, make_confident', [
    pytest.param(faster_rcnn_cfg, confident_faster_rcnn, id='faster-rcnn_r50-cgd'),
    pytest.param(rtmdet_tiny_cfg, confident_rtmdet, id='rtmdet_tiny-cgd'),
])
def test_onnxruntime_detects_what_pytorch_does(make_cfg, make_confident, tiny_coco, tmp_path):
    model_cfg = make_cfg()
    for step in model_cfg.test_pipeline:  # the one mmdeploy reads
        if step.type in ('Resize', 'Pad'):
            step[{'Resize': 'scale', 'Pad': 'size'}[step.type]] = (IMAGE_SIZE, IMAGE_SIZE)
    deploy_cfg = Config.fromfile(DEPLOY_CONFIG)
    image = str(tiny_coco / 'val' / 'val_000001.png')
    checkpoint = tmp_path / 'model.pth'
    task_processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    save_random_detector(task_processor, make_confident, image, checkpoint)
    # 10 to 50 detections, none near the threshold and far from mmdeploy's caps (keep_top_k,
    # max_output_boxes_per_class); fewer detections leave the same ones (NMS is greedy)
    scores = detect(task_processor.build_pytorch_model(str(checkpoint)), task_processor,
                    image).pred_instances.scores
    detection_test_cfg(model_cfg).update(score_thr=spaced_score_thr(scores), max_per_img=100)
    task_processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')

    torch2onnx(image, str(tmp_path), 'end2end.onnx', deploy_cfg, model_cfg, str(checkpoint),
               device='cpu')

    pytorch_model = task_processor.build_pytorch_model(str(checkpoint))
    onnxruntime_model = task_processor.build_backend_model([str(tmp_path / 'end2end.onnx')])
    assert_same_detections(detect(onnxruntime_model, task_processor, image),
                           detect(pytorch_model, task_processor, image))
