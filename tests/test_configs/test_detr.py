"""DINO (4-scale) and Deformable DETR on CGD-ResNet-50: the paper placement in every bottleneck,
the identity variant equal to the plain ResNet-50 it starts from, CGD's parameters given both the
backbone's lr and CGD's halved decay, mmcv's deformable attention on CPU, and training and testing
through our tools and mmdet's own on the synthetic COCO set."""
import functools
from pathlib import Path
from unittest import mock

import mmcv.ops.multi_scale_deform_attn as msda
import mmdet
import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from synthetic_coco import CLASSES, data_root_options
from tool_helpers import FAST_LOADING, python, read_test_metrics

from mmdet_cgd.models import CGD

CGD_DIR = Path(__file__).parents[2] / 'configs' / 'cgd'
MMDET_TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
DINO = 'dino-4scale_r50-cgd_8xb2-12e_coco'
DEFORMABLE = 'deformable-detr_r50-cgd_16xb2-50e_coco'
DINO_IDENTITY = 'dino-4scale_r50-cgd-identity_8xb2-12e_coco'
DEFORMABLE_IDENTITY = 'deformable-detr_r50-cgd-identity_16xb2-50e_coco'
BASELINES = {DINO_IDENTITY: 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py',
             DEFORMABLE_IDENTITY: 'mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py'}
BLOCKS = 3 + 4 + 6 + 3  # ResNet-50's bottlenecks
register_all_modules()


def load(name: str) -> Config:
    cfg = Config.fromfile(str(CGD_DIR / f'{name}.py'))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


@pytest.fixture(scope='module')
def built():
    """``built(name)``: the config's detector without its pretrained weights (no file, no
    download), built once for this module's tests."""
    def build(name: str):
        cfg = load(name)
        cfg.model.backbone.init_cfg = None
        return MODELS.build(cfg.model)

    cached = functools.lru_cache(None)(build)
    yield cached
    cached.cache_clear()


def bottlenecks(backbone):
    return [block for layer in backbone.res_layers for block in getattr(backbone, layer)]


@pytest.mark.parametrize('name', [DINO, DEFORMABLE])
def test_paper_variant_runs_cgd_between_conv1_and_norm1_of_every_bottleneck(name, built):
    backbone_cfg = load(name).model.backbone
    assert backbone_cfg.plugins == [dict(cfg=dict(type='CGD', inplace=True),
                                         position='before_norm1')]
    assert backbone_cfg.init_cfg == dict(type='StrictPretrained',
                                         checkpoint='checkpoints/cgd-resnet50_imagenet.pth')
    backbone = built(name).backbone.eval()
    blocks = bottlenecks(backbone)
    assert backbone.depth == 50 and len(blocks) == BLOCKS
    assert sum(isinstance(m, CGD) for m in backbone.modules()) == BLOCKS
    calls, handles = [], []  # which starts when (CGD runs inside conv1's forward hook)
    for i, block in enumerate(blocks):
        for part in ('conv1', 'cgd', block.norm1_name):
            handles.append(getattr(block, part).register_forward_pre_hook(
                lambda *_, call=(i, part): calls.append(call)))
    with torch.no_grad():
        backbone(torch.randn(1, 3, 64, 64))
    for handle in handles:
        handle.remove()
    assert calls == [(i, part) for i, block in enumerate(blocks)
                     for part in ('conv1', 'cgd', block.norm1_name)]
    assert not any(p.requires_grad for p in backbone.layer1.parameters())  # pretrained CGD too


def plain_resnet50_weights(path: Path) -> dict:
    """A torchvision-format ResNet-50 file (mmdet's ResNet names plus the ImageNet classifier),
    random weights and BatchNorm statistics, so that no block is the identity by accident."""
    gen = torch.Generator().manual_seed(0)
    state = ResNet(depth=50).state_dict()
    for key, value in state.items():
        if value.is_floating_point() and value.ndim == 1:  # BatchNorm
            scale = key.endswith(('.weight', '.running_var'))
            value.copy_(torch.rand(value.shape, generator=gen) + 0.5 if scale
                        else torch.randn(value.shape, generator=gen) * 0.1)
    state['fc.weight'], state['fc.bias'] = torch.randn(1000, 2048), torch.zeros(1000)
    torch.save(state, path)
    return state


@pytest.fixture(scope='module')
def plain_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp('torchvision') / 'resnet50.pth'
    return path, plain_resnet50_weights(path)


@pytest.mark.parametrize('name', [DINO_IDENTITY, DEFORMABLE_IDENTITY])
def test_identity_variant_starts_as_the_plain_resnet50(name, plain_weights):
    """Its own init_cfg (strict: only CGD may be new, only the classifier unused) loads the
    ImageNet file; the result computes exactly what mmdet's baseline backbone does with it."""
    path, state = plain_weights
    cfg = load(name)
    cfg.model.backbone.init_cfg.checkpoint = str(path)
    ours = MODELS.build(cfg.model.backbone)
    ours.init_weights()
    baseline = Config.fromstring(f"_base_ = '{BASELINES[name]}'", '.py').model.backbone
    baseline.init_cfg = None
    plain = MODELS.build(baseline)
    plain.load_state_dict({k: v for k, v in state.items() if not k.startswith('fc.')})
    ours.eval(), plain.eval()  # mmdet's ResNet.train returns None, not the module
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        for a, b in zip(ours(x), plain(x), strict=True):
            assert torch.equal(a, b)
    assert all(p.requires_grad for n, p in ours.named_parameters() if '.cgd.' in n)


@pytest.mark.parametrize('name', [DINO, DEFORMABLE, DINO_IDENTITY, DEFORMABLE_IDENTITY])
def test_cgd_gets_the_backbone_lr_and_half_the_decay(name, built):
    """mmdet's DETR rules (backbone, and Deformable DETR's sampling offsets and reference
    points, at lr x0.1) and CGD's decay x0.5 both reach every parameter they name."""
    cfg = load(name)
    optimizer = build_optim_wrapper(built(name), cfg.optim_wrapper).optimizer
    group_of = {id(p): g for g in optimizer.param_groups for p in g['params']}
    lr, decay = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay
    tenth_lr = ('backbone.', 'sampling_offsets', 'reference_points') if 'deformable' in name \
        else ('backbone.', )
    n_cgd = 0
    for pname, p in built(name).named_parameters():
        if not p.requires_grad:
            continue
        group = group_of[id(p)]
        expected_lr = lr * (0.1 if any(k in pname for k in tenth_lr) else 1)
        expected_decay = decay * (0.5 if '.cgd.' in pname else 1)
        n_cgd += '.cgd.' in pname
        assert group['lr'] == pytest.approx(expected_lr, rel=1e-12), pname
        assert group['weight_decay'] == pytest.approx(expected_decay, rel=1e-12), pname
    trained_blocks = BLOCKS - (0 if 'identity' in name else 3)  # paper: layer1 frozen whole
    assert n_cgd == 6 * trained_blocks


def test_deformable_attention_takes_pytorchs_path_on_cpu(built):
    """mmcv's MultiScaleDeformableAttention has a CUDA kernel only; on CPU tensors it computes
    the same sampling in PyTorch (grid_sample), forward and backward."""
    attention = built(DINO).encoder.layers[0].self_attn
    shapes = torch.tensor([[8, 8], [4, 4], [2, 2], [1, 1]])
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    n = int(shapes.prod(1).sum())
    query = torch.randn(2, n, 256, requires_grad=True)
    references = torch.rand(2, n, 4, 2)
    with mock.patch.object(msda, 'multi_scale_deformable_attn_pytorch',
                           wraps=msda.multi_scale_deformable_attn_pytorch) as pytorch_path:
        out = attention(query=query, value=query, reference_points=references,
                        spatial_shapes=shapes, level_start_index=starts)
    assert pytorch_path.call_count == 1 and out.shape == query.shape
    out.sum().backward()
    assert torch.isfinite(query.grad).all() and query.grad.abs().sum() > 0


# Shrunk for 2 CPU cores (under half a second an iteration): 64-pixel images, 1 encoder and 1
# decoder layer instead of 6, 50 queries instead of 900 / 300 (a 64-pixel image gives the encoder
# only 85 tokens to pick DINO's queries from), DINO's denoising queries 10 instead of 100, no
# optimizer state in the checkpoint (130 MB instead of about 400). The backbone is the config's
# CGD-ResNet-50, its weights given as a user gives them (--cfg-options).
TINY = """
_base_ = {config!r}
model = dict(num_queries=50, encoder=dict(num_layers=1), decoder=dict(num_layers=1),
             bbox_head=dict(num_classes={n_classes}), test_cfg=dict(max_per_img=50))
metainfo = dict(classes={classes!r})
train_dataloader = dict(dataset=dict(
    ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
    metainfo=metainfo, pipeline=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]))
val_dataloader = dict(dataset=dict(
    ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
    metainfo=metainfo, pipeline=[
        dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                              'scale_factor'))]))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
default_hooks = dict(checkpoint=dict(save_optimizer=False))
"""


def tiny_config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f'tiny-{name}.py'
    path.write_text(TINY.format(config=str(CGD_DIR / f'{name}.py'), n_classes=len(CLASSES),
                                classes=CLASSES))
    return path


def options(data_root, checkpoint, *more) -> list:
    return ['--cfg-options', *data_root_options(data_root), *FAST_LOADING,
            f'model.backbone.init_cfg.checkpoint={checkpoint}', *more]


@pytest.fixture(scope='module')
def cgd_resnet50_checkpoint(tmp_path_factory, built):
    """A CGD-ResNet-50 'ImageNet' checkpoint (random weights) with the paper placement, as
    mmpretrain's configs/cgd_imagenet runs write the backbone."""
    path = tmp_path_factory.mktemp('imagenet') / 'cgd-resnet50.pth'
    torch.save(dict(state_dict=built(DINO).backbone.state_dict(prefix='backbone.')), path)
    return path


@pytest.mark.parametrize('train_tool,test_tool', [
    (Path('tools/train.py'), MMDET_TOOLS / 'test.py'),
    (MMDET_TOOLS / 'train.py', Path('tools/test.py')),
], ids=['ours-then-mmdets', 'mmdets-then-ours'])
def test_dino_on_cgd_resnet50_trains_and_tests(train_tool, test_tool, tiny_coco,
                                               cgd_resnet50_checkpoint, tmp_path):
    """A checkpoint written by either train.py is evaluated by the other test.py."""
    config = tiny_config(tmp_path, DINO)
    run_options = options(tiny_coco, cgd_resnet50_checkpoint,
                          'model.dn_cfg.group_cfg.num_dn_queries=10')
    proc = python(train_tool, config, '--work-dir', tmp_path / 'train', *run_options)
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][4/4]' in log, log[-3000:]
    assert f'into CGDResNet from {cgd_resnet50_checkpoint} (new: none)' in log
    python(test_tool, config, tmp_path / 'train' / 'epoch_1.pth', '--work-dir',
           tmp_path / 'test', *run_options)
    metrics = read_test_metrics(tmp_path / 'test')
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0


def test_deformable_detr_on_cgd_resnet50_trains(tiny_coco, plain_weights, tmp_path):
    """The identity variant, from a torchvision-format ResNet-50 file, through our train.py."""
    path, _ = plain_weights
    config = tiny_config(tmp_path, DEFORMABLE_IDENTITY)
    proc = python('tools/train.py', config, '--work-dir', tmp_path, *options(tiny_coco, path))
    log = proc.stdout + proc.stderr
    assert 'Epoch(train) [1][4/4]' in log and 'coco/bbox_mAP' in log, log[-3000:]
    assert f"into CGDResNet from {path} (new: ['.cgd.'])" in log
    assert (tmp_path / 'epoch_1.pth').is_file()
