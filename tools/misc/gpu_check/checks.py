"""Small checks, each in its own process: what the install gives."""
import torch

from .record import Skip


def imports(device: str) -> dict:
    """mmdet's models (which import mmcv.ops) and this package, with their versions."""
    import mmcv
    import mmdet
    import mmdet.models  # noqa: F401 (imports mmcv.ops: needs mmcv's compiled ops)
    import mmengine

    import mmdet_cgd  # noqa: F401
    cuda = torch.cuda.is_available()
    if device.startswith('cuda') and not cuda:
        raise AssertionError('torch sees no CUDA device')
    gpu = 'none'
    if cuda:
        major, minor = torch.cuda.get_device_capability()
        gpu = f'{torch.cuda.get_device_name()} (sm_{major}{minor})'

    return dict(summary=f'mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet '
                        f'{mmdet.__version__}, torch {torch.__version__}, GPU {gpu}',
                torch=torch.__version__, mmcv=mmcv.__version__, mmdet=mmdet.__version__,
                gpu=gpu)


def mmcv_cuda_ops(device: str) -> dict:
    """NMS and RoIAlign on the GPU against their CPU results: the CUDA ops were built."""
    if not device.startswith('cuda'):
        raise Skip('--device cpu: no CUDA ops to run')
    from mmcv.ops import RoIAlign, nms
    torch.manual_seed(0)
    xy = torch.rand(200, 2) * 100
    boxes = torch.cat([xy, xy + 10 + torch.rand(200, 2) * 40], 1)
    scores = torch.rand(200)
    keep_cpu = nms(boxes, scores, 0.5)[1]
    keep_gpu = nms(boxes.cuda(), scores.cuda(), 0.5)[1].cpu()
    feats = torch.randn(2, 16, 32, 32)
    rois = torch.tensor([[0, 1, 1, 20, 20], [1, 4, 2, 30, 25]], dtype=torch.float32)
    align = RoIAlign((7, 7), 1.0, 2)
    diff = (align(feats.cuda(), rois.cuda()).cpu() - align(feats, rois)).abs().max().item()
    if not torch.equal(keep_cpu, keep_gpu) or diff > 1e-4:
        raise AssertionError(f'CUDA ops disagree with CPU: nms same keep '
                             f'{torch.equal(keep_cpu, keep_gpu)}, RoIAlign max diff {diff:.1e}')
    return dict(summary=f'nms keeps the same {len(keep_gpu)} boxes; RoIAlign within {diff:.1e}')
