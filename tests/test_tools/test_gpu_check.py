"""The maintainers' GPU script (.dev_scripts/gpu_check.sh and its helper gpu_check.py), checked
without a GPU: its dry run names every step and finds every file it runs, and the helper's
parts (what --prepare downloads, the torchvision stand-ins for mmcv's ops) do what they say."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
import torch
from tool_helpers import REPO

SCRIPT = REPO / '.dev_scripts' / 'gpu_check.sh'
STEPS = ['environment', 'install', 'mmcv_build', 'pytest_devices', 'cost_fp32', 'cost_amp',
         'inductor', 'dist_train', 'host_time']
spec = importlib.util.spec_from_file_location('gpu_check', REPO / '.dev_scripts' / 'gpu_check.py')
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def dry_run(script):
    return subprocess.run(['bash', str(script), '--dry-run'], capture_output=True, text=True,
                          env=dict(os.environ, PYTHON=sys.executable), timeout=120)


def test_the_dry_run_prints_every_step_and_finds_what_they_run():
    proc = dry_run(SCRIPT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    steps = [line.split()[0] for line in proc.stdout.splitlines() if ' s: ' in line]
    assert steps == STEPS
    assert '-m pytest -m devices -k cuda' in proc.stdout
    assert "--device cuda --models backbone mask_rcnn" in proc.stdout
    assert 'every file and command named is here' in proc.stdout


def test_the_dry_run_fails_naming_what_is_missing(tmp_path):
    shutil.copytree(REPO / '.dev_scripts', tmp_path / '.dev_scripts')  # a tree without tools/
    proc = dry_run(tmp_path / '.dev_scripts' / 'gpu_check.sh')
    assert proc.returncode != 0
    assert 'missing: tools/dist_train.sh' in proc.stdout
    assert 'missing: configs/demo/mask-rcnn_r18-cgd_fpn_synthetic.py' in proc.stdout


def test_the_script_stays_within_its_line_budget():
    """The GPU check and what it runs of .dev_scripts (the studies beside it are apart)."""
    lines = sum(len((REPO / '.dev_scripts' / name).read_text().splitlines())
                for name in ('gpu_check.sh', 'gpu_check.py', 'measure_cgd_host_time.py'))
    assert lines <= 600


def test_prepare_downloads_pinned_cp312_x86_64_wheels_only(tmp_path):
    args = [str(a) for a in gpu_check.wheel_args(tmp_path)]
    assert args[:2] == ['download', '-q'] and '--no-deps' in args
    assert '--only-binary=:all:' in args  # never built here, for another Python
    assert args[args.index('--python-version') + 1] == '3.12'
    assert args[args.index('--implementation') + 1] == 'cp'
    assert all(p.endswith('x86_64') for a in args if a.startswith('--platform=')
               for p in [a.split('=')[1]])
    assert all('==' in w for w in gpu_check.WHEELS)


def test_prepare_refuses_an_mmcv_source_release_with_another_sha256(tmp_path, monkeypatch):
    def fake_pip(*args, env=None):
        if args[0] == 'download':  # pip gives a file that is not the pinned release
            folder = args[args.index('-d') + 1]
            os.makedirs(folder, exist_ok=True)
            (folder / gpu_check.MMCV_SDIST).write_bytes(b'not mmcv')

    monkeypatch.setattr(gpu_check, 'pip', fake_pip)
    (tmp_path / gpu_check.MMCV_SDIST).write_bytes(b'a stale download')  # not trusted either
    with pytest.raises(SystemExit, match='sha256'):
        gpu_check.fetch_mmcv_sdist(tmp_path)


@pytest.fixture
def torchvision_ops():
    """``use_torchvision_ops`` for one test; mmcv's own ext modules back afterwards."""
    pytest.importorskip('torchvision.ops', reason='the stand-ins call torchvision')
    import mmcv.ops  # noqa: F401
    modules = {m: m.ext_module for name, m in list(sys.modules.items())
               if name.startswith('mmcv.ops.') and hasattr(m, 'ext_module')}
    try:
        yield gpu_check.use_torchvision_ops()
    finally:
        for module, ext in modules.items():
            module.ext_module = ext


def nms_and_roi_align():
    """mmcv's NMS, and its RoIAlign forward and input gradient, on fixed random data."""
    from mmcv.ops import RoIAlign, nms
    torch.manual_seed(0)
    xy = torch.rand(60, 2) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(60, 2) * 30], 1)
    keep = nms(boxes, torch.rand(60), 0.5)[1]
    feats = torch.randn(2, 4, 24, 24, requires_grad=True)
    rois = torch.tensor([[0, 1.5, 1, 20, 18], [1, 4, 2.5, 23, 15]])
    out = RoIAlign((5, 5), 0.5, 2, aligned=True)(feats, rois)
    grad, = torch.autograd.grad(out, feats, torch.randn_like(out))
    return keep, out.detach(), grad


def test_torchvision_stand_ins_give_mmcvs_results(request):
    reference = nms_and_roi_align()  # mmcv's own CPU ops, before the stand-ins are in
    stand_in = request.getfixturevalue('torchvision_ops')
    keep, out, grad = nms_and_roi_align()
    assert torch.equal(keep, reference[0])
    torch.testing.assert_close(out, reference[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, reference[2], rtol=1e-5, atol=1e-6)
    assert stand_in.calls == dict(nms=1, roi_align_forward=1, roi_align_backward=1)


def test_stand_ins_only_where_asked(monkeypatch):
    import mmcv.ops  # noqa: F401
    nms_module = sys.modules['mmcv.ops.nms']  # (mmcv.ops.nms is also the function's name)
    ext = nms_module.ext_module
    monkeypatch.delenv(gpu_check.ASK, raising=False)
    gpu_check.use_torchvision_ops_if_asked()
    assert nms_module.ext_module is ext
