"""Every tool that loads a checkpoint refuses a pickle that would run code, and weights that do
not fit; the explicit opt-in and URLs work through the tools as they do in mmdet."""
import pytest
import torch
from checkpoint_helpers import save_stock_mmdet_checkpoint, serving
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from tool_helpers import DEMO_CONFIG, REPO, python, tiny_run_options

BASELINE_CONFIG = REPO / 'configs' / 'demo' / 'mask-rcnn_r18_fpn_synthetic.py'
PAPER_CONFIG = REPO / 'configs' / 'cgd' / 'faster-rcnn_r50-cgd_fpn_1x_coco.py'
register_all_modules()


def demo_weights(config=DEMO_CONFIG):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    return model.state_dict()


def test_every_tool_refuses_the_malicious_pickle(malicious_checkpoint, tmp_path):
    path, marker = malicious_checkpoint
    runs = {
        'train --resume': ['tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path / 'w',
                           '--resume', path],
        'train load_from': ['tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path / 'w',
                            '--cfg-options', f'load_from={path}'],
        'test': ['tools/test.py', DEMO_CONFIG, path, '--work-dir', tmp_path / 't'],
        'converter': ['tools/model_converters/convert_imagenet_checkpoint.py', path,
                      tmp_path / 'out.pth'],
        'publish': ['tools/model_converters/publish_model.py', path, tmp_path / 'pub.pth'],
        'heatmap': ['tools/analysis_tools/feature_heatmap.py', '--model', 'x', DEMO_CONFIG, path,
                    '--images', path, '--out', tmp_path / 'h.png'],
    }
    for name, args in runs.items():
        proc = python(*args, check=False)
        assert proc.returncode != 0, name
        assert 'refused to load' in proc.stderr, (name, proc.stderr[-2000:])
    assert not marker.exists()


def test_test_tool_refuses_a_checkpoint_of_another_architecture(tiny_coco, tmp_path):
    torch.save(dict(state_dict=demo_weights(BASELINE_CONFIG)), tmp_path / 'no_cgd.pth')
    proc = python('tools/test.py', DEMO_CONFIG, tmp_path / 'no_cgd.pth', '--work-dir', tmp_path,
                  *tiny_run_options(tiny_coco), check=False)
    assert proc.returncode != 0
    assert 'does not fit the model (48 missing' in proc.stderr, proc.stderr[-2000:]
    assert 'backbone.layer1.0.cgd.bias0' in proc.stderr
    assert 'coco/bbox_mAP' not in proc.stdout + proc.stderr


def test_resume_from_a_weights_only_file_is_a_clear_error(tiny_coco, tmp_path):
    torch.save(demo_weights(), tmp_path / 'weights.pth')
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path, '--resume',
                  tmp_path / 'weights.pth', *tiny_run_options(tiny_coco), check=False)
    assert proc.returncode != 0
    assert 'error: --resume needs a training checkpoint' in proc.stderr, proc.stderr[-2000:]
    assert 'load_from=' in proc.stderr and 'Traceback' not in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error on CPU-only machines')
def test_amp_without_cuda_is_a_clear_error(tmp_path):
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path, '--amp', check=False)
    assert proc.returncode != 0 and 'error: --amp needs a CUDA GPU' in proc.stderr


def test_the_pretrained_path_is_one_cfg_option_and_a_missing_file_stops_early(tmp_path):
    key = 'model.backbone.init_cfg.checkpoint'
    proc = python('tools/train.py', PAPER_CONFIG, '--work-dir', tmp_path, '--cfg-options',
                  f'{key}={tmp_path / "absent.pth"}', check=False)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert f"pretrained weights not found: {key}='{tmp_path / 'absent.pth'}'" in proc.stderr
    assert not (tmp_path / 'absent.pth').exists()


def test_misfit_pretrained_weights_end_training_with_an_error_line(tiny_coco, tmp_path):
    """Found when the runner initialises the weights: an ``error:`` line, no traceback, no step."""
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}}, tmp_path / 'other.pth')
    config = tmp_path / 'misfit.py'
    config.write_text(f"_base_ = '{DEMO_CONFIG}'\nmodel = dict(backbone=dict(init_cfg=dict("
                      "_delete_=True, type='StrictPretrained', "
                      f"checkpoint='{tmp_path / 'other.pth'}')))\n")
    proc = python('tools/train.py', config, '--work-dir', tmp_path / 'run',
                  *tiny_run_options(tiny_coco, max_iters=2), check=False)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert 'error: pretrained weights' in proc.stderr and 'does not fit the model' in proc.stderr
    assert not list((tmp_path / 'run').glob('iter_*.pth'))


def test_a_plugin_mistake_found_when_the_model_is_built_is_an_error_line(tiny_coco, tmp_path):
    config = tmp_path / 'two_cgd.py'  # two CGD at one position without postfix: same name
    config.write_text(f"_base_ = '{DEMO_CONFIG}'\nmodel = dict(backbone=dict(plugins=[dict("
                      "cfg=dict(type='CGD'), position='before_norm1')] * 2))\n")
    torch.save({'state_dict': {}}, tmp_path / 'empty.pth')  # the model fails first
    for tool in ('tools/train.py', 'tools/test.py'):
        args = [] if tool.endswith('train.py') else [tmp_path / 'empty.pth']
        proc = python(tool, config, *args, '--work-dir', tmp_path / 'run',
                      *tiny_run_options(tiny_coco, max_iters=2), check=False)
        assert proc.returncode != 0 and 'Traceback' not in proc.stderr, tool
        assert "error: " in proc.stderr and "duplicate plugin name 'cgd'" in proc.stderr, tool


def test_test_tool_reads_a_url_and_a_trusted_stock_checkpoint(tiny_coco, tmp_path):
    served = tmp_path / 'served'
    served.mkdir()
    weights = demo_weights()
    torch.save(dict(state_dict=weights, meta=dict(iter=4)), served / 'safe.pth')
    save_stock_mmdet_checkpoint(served / 'stock.pth', weights)
    env = dict(TORCH_HOME=str(tmp_path / 'torch_home'))
    with serving(served) as url:
        from_url = python('tools/test.py', DEMO_CONFIG, f'{url}/safe.pth', '--work-dir',
                          tmp_path / 'url', *tiny_run_options(tiny_coco), env=env)
    assert 'coco/bbox_mAP' in from_url.stdout + from_url.stderr
    assert (tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'safe.pth').is_file()

    refused = python('tools/test.py', DEMO_CONFIG, served / 'stock.pth', '--work-dir',
                     tmp_path / 'stock', *tiny_run_options(tiny_coco), check=False)
    assert refused.returncode != 0 and '--trust-checkpoint' in refused.stderr
    trusted = python('tools/test.py', DEMO_CONFIG, served / 'stock.pth', '--work-dir',
                     tmp_path / 'stock', '--trust-checkpoint', *tiny_run_options(tiny_coco))
    assert 'coco/bbox_mAP' in trusted.stdout + trusted.stderr
