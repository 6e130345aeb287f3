"""The prepared GPU check (tools/misc/gpu_check.sh): its CPU mode end to end, so the script the
GPU machine runs cannot rot; how it records failures; the carried folder it prepares."""
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from tool_helpers import REPO, run

sys.path.insert(0, str(REPO / 'tools' / 'misc'))  # gpu_check lives there, beside its shell
from gpu_check import cli, numerics, prepare  # noqa: E402
from gpu_check.record import FAILED, PASSED, SKIPPED, Record, first_error_line  # noqa: E402


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    out, work = tmp_path_factory.mktemp('out'), tmp_path_factory.mktemp('work')
    proc = run(['bash', 'tools/misc/gpu_check.sh', '--device', 'cpu', '--tiny', '--out', out,
                '--work', work], timeout=1800, env=dict(PYTHON=sys.executable), check=False)
    return proc, out


def test_cpu_tiny_mode_runs_every_step_and_says_why_it_skipped_any(tiny_run):
    proc, out = tiny_run
    result = json.loads((out / 'gpu_check.json').read_text())
    steps = {s['name']: s for s in result['steps']}
    expected = [s.name for s in cli.selected(cli.parse_args(['--device', 'cpu', '--tiny']))]
    assert list(steps) == expected, proc.stdout[-3000:]
    failed = {n: s['reason'] for n, s in steps.items() if s['status'] == FAILED}
    assert not failed and proc.returncode == 0, (failed, proc.stdout[-3000:])
    skipped = {n: s['reason'] for n, s in steps.items() if s['status'] == SKIPPED}
    # this machine has the stack: nothing to build, and nothing else skipped
    assert skipped == {'start mmcv CPU-ops build (background)':
                       'mmcv with its compiled ops imports: nothing to build',
                       'mmcv CPU-ops build': 'mmcv with its compiled ops imports: nothing built'}
    stack = steps['stack: use what imports, install the rest']
    assert 'used installed: ' in stack['summary'] and stack['details']['installed'] == []
    assert stack['details']['mmcv_built'] is False and stack['details']['substitutes'] is True

    rows = steps['CGD at every position vs float64']['details']['rows']
    checked = {(r['check'].split(':')[0], r['dtype']) for r in rows}
    for label, *_ in numerics.PLACEMENTS:
        assert {(label, d) for d in ('float32', 'float16', 'bfloat16')} <= checked
    assert all(r['error'] <= r['tolerance'] for r in rows)
    bound = steps['CGD layer vs its 7-pass bound (torch only)']['details']
    assert bound['torch_only'] and bound['bandwidth'] > 0
    assert {r['dtype'] for r in bound['rows']} == {'float32', 'float16'}
    overfit = steps['one batch overfit: float32, AMP float16, bfloat16']['details']
    assert [r['dtype'] for r in overfit['rows']] == ['float32', 'float16', 'bfloat16']
    assert all(r['fall'] <= overfit['fall_needed'] for r in overfit['rows'])
    backbone = steps['ResNet-50 training step, CGD vs plain, float32 and AMP']['details']
    assert [r['amp'] for r in backbone['results']] == [None, 'bfloat16']
    maskrcnn = steps['Mask R-CNN paper config, CGD vs plain (--amp)']['details']
    assert maskrcnn['substitutes'] and all(
        calls.get('nms') and calls.get('roi_align') for calls in
        maskrcnn['substitute_calls'].values())  # mask targets: mmcv's roi_align function
    assert 'torchvision substitutes ran' in steps['tools/dist_train.sh CONFIG 1']['summary']
    assert 'gloo' in steps['tools/dist_train.sh CONFIG 1']['summary']

    markdown = (out / 'gpu_check.md').read_text()
    for name in steps:
        assert f'| {name} |' in markdown
    assert '## CGD at every position vs float64' in markdown and '| tolerance |' in markdown
    assert '7-pass bound' in markdown
    assert "Detectors' NMS and RoIAlign: torchvision's NMS and RoIAlign in place" in markdown
    with tarfile.open(out / 'artifacts.tar.gz') as tar:
        assert any(n.endswith('dist_train.log') for n in tar.getnames())


def test_a_failing_step_records_its_first_error_line_and_the_next_step_runs(tmp_path):
    args = cli.parse_args(['--device', 'cpu', '--work', str(tmp_path)])
    ctx, record = cli.Context(args), Record(tmp_path, dict(command='test'))

    def broken(ctx):
        raise ValueError('the reason\nand more lines')

    for name, fn in (('broken', broken), ('next', lambda ctx: dict(summary='ran'))):
        record.add(cli.run_step(ctx, cli.Step(name, 1, fn)))
    assert [(s.status, s.reason or s.summary) for s in record.steps] == [
        (FAILED, 'ValueError: the reason'), (PASSED, 'ran')]
    saved = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert [s['name'] for s in saved['steps']] == ['broken', 'next']


def test_a_worker_that_dies_or_hangs_fails_its_step_only(tmp_path):
    args = cli.parse_args(['--device', 'cpu', '--work', str(tmp_path)])
    ctx = cli.Context(args)
    with pytest.raises(RuntimeError, match=r'ModuleNotFoundError: No module named'):
        ctx.worker('missing', 'no_such_module:fn', 60)


def test_first_error_line_is_the_compilers_not_the_last():
    log = ('[1/3] c++ -Werror=x a.cpp\nIn file included from b.h:1,\n'
           '/x/y.cu(12): error: identifier "texture" is undefined\nninja: build stopped\n'
           'RuntimeError: Error compiling objects for extension')
    assert first_error_line(log) == '/x/y.cu(12): error: identifier "texture" is undefined'
    assert first_error_line('Traceback...\n  File "x"\nKeyError: 3\n') == 'KeyError: 3'


def test_wheels_for_another_python_or_platform_are_refused(tmp_path):
    for name in ('a-1.0-py3-none-any.whl', 'b-1.0-cp312-cp312-manylinux_2_28_x86_64.whl',
                 'c-1.0-cp312-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl',
                 'd-1.0-cp311-cp311-manylinux_2_28_x86_64.whl',
                 'e-1.0-cp312-cp312-win_amd64.whl'):
        (tmp_path / name).touch()
    assert sorted(prepare.check_wheels_match(tmp_path)) == [
        'd-1.0-cp311-cp311-manylinux_2_28_x86_64.whl', 'e-1.0-cp312-cp312-win_amd64.whl']


def pypi_unreachable():
    """Why the download tests cannot run here, or '' where they can."""
    if os.environ.get('MMDET_CGD_OFFLINE') == '1':
        return 'MMDET_CGD_OFFLINE=1: the offline suite skips downloads'
    try:
        proc = subprocess.run([sys.executable, '-m', 'pip', 'index', 'versions', 'mmcv'],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return 'the package index did not answer in 60 s'
    if proc.returncode:
        return (f'the package index is not reachable ({proc.stderr.strip()[-200:]}); set '
                'MMDET_CGD_OFFLINE=1 to skip on purpose')
    return ''


needs_pypi = pytest.mark.skipif(bool(pypi_unreachable()), reason=pypi_unreachable() or 'online')


@needs_pypi
def test_prepare_works_in_a_fresh_virtual_environment_with_only_pip(tmp_path):
    """``--prepare`` as a new user runs it: a fresh venv (pip only: no torch, no setuptools),
    about 7 MiB from PyPI. pip cannot download mmcv's sdist there (it prepares its metadata,
    which needs torch and pkg_resources): the file itself is fetched and its sha256 checked."""
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, timeout=300)
    bare = venv / 'bin' / 'python'
    assert subprocess.run([str(bare), '-c', 'import torch'], capture_output=True).returncode
    carry = tmp_path / 'carry'
    proc = run(['bash', 'tools/misc/gpu_check.sh', '--prepare', carry], timeout=900,
               env=dict(PYTHON=str(bare)), check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in carry.iterdir())
    assert 'mmcv-2.1.0.tar.gz' in files
    assert prepare.sha256(carry / 'mmcv-2.1.0.tar.gz') == prepare.MMCV_SHA256
    for package in ('mmengine-0.10.7', 'mmdet-3.3.0', 'pycocotools', 'shapely', 'setuptools'):
        assert any(f.startswith(package) for f in files), package
    assert not any(f.startswith('torch') for f in files)
    assert prepare.check_wheels_match(carry) == []
    assert f'next, on the GPU machine: carry {carry}' in proc.stdout


def test_a_source_release_with_another_hash_is_refused(tmp_path, monkeypatch):
    """The index is trusted for where the file is, not for what it holds."""
    def fake_pip(*args, env=None):
        if args[0] == 'download':
            folder = Path(args[args.index('-d') + 1])
            folder.mkdir(parents=True)
            (folder / prepare.MMCV_SDIST).write_bytes(b'not mmcv')

    monkeypatch.setattr(prepare, 'pip', fake_pip)
    (tmp_path / 'carry').mkdir()
    with pytest.raises(SystemExit, match='expected ' + prepare.MMCV_SHA256):
        prepare.fetch_sdist(tmp_path / 'carry')
    assert not (tmp_path / 'carry' / prepare.MMCV_SDIST).exists()


def test_the_gpu_machine_command_fails_clearly_without_a_gpu(tmp_path):
    proc = subprocess.run(['bash', 'tools/misc/gpu_check.sh', '--only', 'environment', '--out',
                           str(tmp_path), '--work', str(tmp_path / 'w')], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHON=sys.executable))
    steps = json.loads((tmp_path / 'gpu_check.json').read_text())['steps']
    assert proc.returncode == 1 and steps[0]['status'] == FAILED
    assert 'torch sees no CUDA device' in steps[0]['reason']


def test_help_lists_every_step_with_its_expected_time_within_nine_minutes(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(['--help'])
    shown = capsys.readouterr().out
    assert '--prepare .gpu_carry' in shown and '--device cpu --tiny' in shown
    full = [s for s in cli.STEPS if not s.cuda_build]
    for step in full:
        assert re.search(rf'{step.seconds} s [q ] {re.escape(step.name)}', shown), step.name
    total = sum(s.seconds for s in full)
    quick = sum(cli.quick_seconds(s) for s in full if s.quick)
    assert total <= 540 and quick <= 240
    assert f'{total} s   in all; --quick {quick} s' in shown
    assert '--with-mmcv-cuda' in shown


def test_quick_and_mmcv_cuda_choose_their_steps():
    names = [s.name for s in cli.selected(cli.parse_args(['--quick']))]
    assert names == [s.name for s in cli.STEPS if s.quick]
    assert any(n.startswith('Mask R-CNN') for n in names)
    assert not any('CUDA' in n for n in names)
    full = [s.name for s in cli.selected(cli.parse_args(['--with-mmcv-cuda']))]
    assert full[-3:] == ['start mmcv CUDA build (background)', 'mmcv CUDA build',
                         'mmcv CUDA ops vs CPU ops']
    assert cli.parse_args(['--quick']).budget == 240 and cli.parse_args([]).budget == 540
    only = [s.name for s in cli.selected(cli.parse_args(['--only', 'demo']))]
    assert only == ['environment', 'stack: use what imports, install the rest',
                    'start mmcv CPU-ops build (background)', 'mmcv CPU-ops build',
                    'demo config to bbox mAP 0.5']


def probe_result(found=True, mmcv_ops=True, cuda_ops=False):
    from gpu_check import install
    return dict(found={m: found for m in install.MODULES.values()},
                mmcv=dict(found=mmcv_ops, version='2.1.0' if mmcv_ops else None, ops=mmcv_ops,
                          cuda_ops=cuda_ops, error='' if mmcv_ops else 'not installed'))


@pytest.fixture
def stack_ctx(tmp_path, monkeypatch):
    """``(ctx, installed)``: a GPU-mode context whose probe answers what the test sets, and
    the wheels the step installed."""
    from gpu_check import install
    installed = []
    monkeypatch.setattr(install, 'install_wheels', lambda wheels, work: installed.extend(
        w.name for w in wheels))
    args = cli.parse_args(['--work', str(tmp_path / 'work'), '--carried', str(tmp_path / 'c')])
    return cli.Context(args), installed


def test_an_installed_stack_is_used_as_it_is(stack_ctx, monkeypatch):
    """A GPU user's machine with mmcv's CUDA ops: no carried folder, nothing built, mmcv's
    own ops for the detectors."""
    from gpu_check import install
    ctx, installed = stack_ctx
    monkeypatch.setattr(install, 'probe', lambda env: probe_result(cuda_ops=True))
    details = cli.stack(ctx)
    assert installed == [] and not details['mmcv_built'] and not ctx.substitutes
    assert 'mmcv 2.1.0 installed, compiled ops CPU and CUDA: used as it is' in details['summary']
    assert "detectors: mmcv's own CUDA ops" in details['summary']
    with pytest.raises(cli.Skip, match='nothing to build'):
        cli.start_mmcv_cpu_build(ctx)


def test_only_what_does_not_import_is_installed_or_built(stack_ctx, monkeypatch, tmp_path):
    from gpu_check import install
    ctx, installed = stack_ctx
    carried = tmp_path / 'c'
    carried.mkdir()
    for name in ('mmdet-3.3.0-py3-none-any.whl', 'mmengine-0.10.7-py3-none-any.whl',
                 'setuptools-80.10.2-py3-none-any.whl', 'mmcv-2.1.0.tar.gz'):
        (carried / name).touch()
    result = probe_result(mmcv_ops=False)
    result['found'].update(mmdet=False, pkg_resources=False)
    monkeypatch.setattr(install, 'probe', lambda env: result)
    details = cli.stack(ctx)
    assert installed == ['mmdet-3.3.0-py3-none-any.whl', 'setuptools-80.10.2-py3-none-any.whl']
    assert details['mmcv_built'] and ctx.substitutes and not ctx.mmcv_ready
    assert "mmcv: to build from c's source release (not installed)" in details['summary']


def test_what_is_missing_and_not_carried_is_named(stack_ctx, monkeypatch):
    from gpu_check import install
    ctx, _ = stack_ctx
    result = probe_result(mmcv_ops=False)
    result['found']['mmdet'] = False
    monkeypatch.setattr(install, 'probe', lambda env: result)
    with pytest.raises(FileNotFoundError, match=re.escape("['mmdet'] do not import here")):
        cli.stack(ctx)
    result['found']['mmdet'] = True
    with pytest.raises(FileNotFoundError, match="mmcv's compiled ops do not import here"):
        cli.stack(ctx)


@pytest.mark.parametrize('version, ops, usable', [('2.1.0', True, True), ('2.2.0', True, False),
                                                  ('1.7.2', True, False), ('2.1.0', False, False)])
def test_mmcv_is_used_only_at_a_version_mmdet_accepts_with_its_ops(version, ops, usable):
    from gpu_check import install
    mmcv = dict(found=True, version=version, ops=ops, cuda_ops=False, error='')
    assert install.mmcv_usable(mmcv) is usable


def test_the_probe_reports_this_machines_stack():
    from gpu_check import install
    found = install.probe(dict(os.environ))
    assert found['found']['mmdet'] and found['mmcv']['ops'] and not found['mmcv']['cuda_ops']


def test_the_layer_steps_run_with_mmdet_and_mmcv_ops_unimportable(tmp_path):
    """They run while mmcv's compiled ops build: any import of mmdet or mmcv.ops fails here."""
    script = f"""
import importlib.abc, json, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == 'mmdet' or name.startswith(('mmdet.', 'mmcv.ops', 'mmcv._ext')):
            raise ImportError(f'{{name}}: refused (mmcv is still building)')
sys.meta_path.insert(0, Refuse())
sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tools' / 'misc')!r},
                {str(REPO / 'tools' / 'analysis_tools')!r}]
from gpu_check import cost, numerics
layer = numerics.check_layer('cpu', tiny=True)
bound = cost.layer_bound('cpu', tiny=True)
print(json.dumps([len(layer['rows']), bound['torch_only'], len(bound['rows'])]))
"""
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows, torch_only, bound_rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rows >= 2 and torch_only and bound_rows == 4


def test_torchvision_substitutes_give_mmcvs_detections_and_losses():
    """Once, on CPU, against mmcv's own compiled ops: the demo Mask R-CNN's predictions and
    training losses are the same with torchvision's NMS and RoIAlign, and (strict) no other
    compiled op of mmcv ran."""
    from gpu_check import substitutes
    details = substitutes.same_detections('cpu', images=2, size=128)
    assert sum(details['detections']) > 10  # random weights, score threshold 0: many boxes
    assert details['calls']['nms'] >= 2 and details['calls']['roi_align'] >= 1
    assert details['worst']['masks'] == 0 and details['worst']['losses'] <= 1e-5


def test_the_substitutes_refuse_other_ops_when_strict_and_are_undone_after():
    import mmcv.ops
    from gpu_check.substitutes import torchvision_ops
    nms_module = sys.modules['mmcv.ops.nms']  # mmcv.ops.nms is the function
    original = nms_module.ext_module
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    expected = mmcv.ops.nms(boxes, scores, 0.5)[1]
    with torchvision_ops(strict=True) as stand_in:
        assert torch.equal(mmcv.ops.nms(boxes, scores, 0.5)[1], expected)
        assert stand_in.calls['nms'] == 1
        with pytest.raises(RuntimeError, match="'sigmoid_focal_loss_forward' has no torchvision"):
            mmcv.ops.sigmoid_focal_loss(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    assert nms_module.ext_module is original


def fake_sdist(carried, setup_py: str):
    """A carried mmcv-2.1.0.tar.gz whose setup.py is ``setup_py``."""
    import io
    carried.mkdir(parents=True, exist_ok=True)
    with tarfile.open(carried / 'mmcv-2.1.0.tar.gz', 'w:gz') as tar:
        data = setup_py.encode()
        info = tarfile.TarInfo('mmcv-2.1.0/setup.py')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_mmcv_builds_in_the_background_at_low_priority_and_a_failure_names_its_error(tmp_path):
    from gpu_check import install
    work, carried = tmp_path / 'work', tmp_path / 'carry'
    fake_sdist(carried, 'import os, sys\nopen("built", "w").write(" ".join(['
                        'os.environ["MMCV_WITH_OPS"], os.environ["CUDA_VISIBLE_DEVICES"], '
                        'str(os.nice(0)), *sys.argv[1:]]))\n')
    tree = install.wait_mmcv_build(install.start_mmcv_build(carried, work, None, 3), 120)
    assert (tree / 'built').read_text() == f'1  {min(19, os.nice(0) + 10)} build_ext --inplace'
    fake_sdist(carried, 'raise SystemExit("error: no compiler here")\n')
    with pytest.raises(RuntimeError, match='error: no compiler here'):
        install.wait_mmcv_build(install.start_mmcv_build(carried, work, None, 3), 120)
