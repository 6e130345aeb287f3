"""A very short demo run end to end, and the heatmap tool on what it trained."""
import cv2
import pytest
from figures import curve_points, read_scalars
from tool_helpers import DEMO_CONFIG, FAST_LOADING, python

DEMO = 'demo/synthetic_demo.py'
HEATMAP = 'tools/analysis_tools/feature_heatmap.py'
# the logging interval left to the demo: its --max-iters sets it
QUICK = ['--max-iters', '2', '--num-train', '6', '--num-val', '3', '--image-size', '128',
         '--cfg-options', *[o for o in FAST_LOADING if not o.startswith('default_hooks.logger')]]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    proc = python(DEMO, '--data-root', root / 'data', '--work-dir', root / 'work',
                  *QUICK)
    return root, proc.stdout + proc.stderr


def test_demo_generates_data_trains_evaluates_and_prints_the_metrics(demo):
    root, log = demo
    assert (root / 'data' / 'annotations' / 'instances_val.json').is_file()
    assert 'Iter(train) [2/2]' in log
    assert '| Mask R-CNN R18-FPN + CGD |' in log and '| Mask R-CNN R18-FPN |' in log
    assert 'says nothing about COCO' in log
    results = (root / 'work' / 'results.md').read_text()
    assert results.count('\n| Mask R-CNN') == 2


def test_demo_writes_every_picture(demo):
    root, _ = demo
    work = root / 'work'
    predictions = cv2.imread(str(work / 'predictions.png'))
    assert predictions.shape == (2 * 256, 3 * 256, 3)  # baseline, CGD rows x 3 images
    heatmap = cv2.imread(str(work / 'heatmap.png'))
    assert heatmap.shape == (3 * 256, 3 * 256, 3)  # image, baseline, CGD rows x 3 images
    assert cv2.imread(str(work / 'curves.png')) is not None


def test_demo_curves_place_every_record_at_its_iteration(demo):
    root, _ = demo
    for model in ('CGD', 'baseline'):
        train, val = curve_points(read_scalars(root / 'work' / model))
        # 2 iterations: a loss record and a validation after each
        assert [it for it, _ in train] == [1, 2] and [it for it, _ in val] == [1, 2]


def test_a_second_run_reuses_data_and_checkpoints(demo):
    root, _ = demo
    proc = python(DEMO, '--data-root', root / 'data', '--work-dir', root / 'work',
                  '--no-baseline', *QUICK)
    log = proc.stdout + proc.stderr
    assert 'using the dataset in' in log and 'not training again' in log
    assert 'Iter(train)' not in log and '| Mask R-CNN R18-FPN + CGD |' in log


def test_heatmap_tool_draws_the_expected_grid(demo, tmp_path):
    root, _ = demo
    work = root / 'work'
    ckpt = {k: work / k / 'iter_2.pth' for k in ('CGD', 'baseline')}
    base_cfg = str(DEMO_CONFIG).replace('r18-cgd', 'r18')
    out = tmp_path / 'grid.png'
    python(HEATMAP, '--model', 'baseline', base_cfg, ckpt['baseline'],
           '--model', 'CGD', DEMO_CONFIG, ckpt['CGD'], '--image-dir', root / 'data' / 'val',
           '--num-images', '2', '--tile', '96', '--out', out)
    assert cv2.imread(str(out)).shape == (3 * 96, 2 * 96, 3)
    # any layer, any number of models
    python(HEATMAP, '--model', 'CGD', DEMO_CONFIG, ckpt['CGD'], '--images',
           *sorted((root / 'data' / 'val').glob('*.png')), '--layer', 'backbone.layer2.0.cgd',
           '--no-relu', '--tile', '64', '--out', out)
    assert cv2.imread(str(out)).shape == (2 * 64, 3 * 64, 3)


def test_heatmap_tool_names_a_missing_layer(demo, tmp_path):
    root, _ = demo
    proc = python(HEATMAP, '--model', 'CGD', DEMO_CONFIG,
                  root / 'work' / 'CGD' / 'iter_2.pth', '--image-dir', root / 'data' / 'val',
                  '--layer', 'backbone.layer9.bn1', '--out', tmp_path / 'x.png', check=False)
    assert proc.returncode != 0 and "layer 'backbone.layer9.bn1' not in the model" in proc.stderr


def test_heatmap_tool_names_a_missing_image_folder(tmp_path):
    proc = python(HEATMAP, '--model', 'CGD', DEMO_CONFIG, tmp_path / 'x.pth', '--image-dir',
                  tmp_path / 'absent', '--out', tmp_path / 'x.png', check=False)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert 'expected a folder of images, not found' in proc.stderr and 'absent' in proc.stderr
