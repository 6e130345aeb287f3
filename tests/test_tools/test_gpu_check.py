"""The prepared GPU check (tools/misc/gpu_check.sh): its CPU mode end to end, so the script the
GPU machine runs cannot rot; how it records failures; the carried folder it prepares."""
import json
import os
import subprocess
import sys
import tarfile

import pytest
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
    assert list(steps) == [name for name, _, _ in cli.STEPS], proc.stdout[-3000:]
    failed = {n: s['reason'] for n, s in steps.items() if s['status'] == FAILED}
    assert not failed and proc.returncode == 0, (failed, proc.stdout[-3000:])
    for name, step in steps.items():
        assert step['status'] in (PASSED, SKIPPED), name
        assert step['seconds'] >= 0
        if step['status'] == SKIPPED:
            assert step['reason'], name
    for name in ('install carried wheels', 'build mmcv with CPU ops', 'start mmcv CUDA build',
                 'mmcv CUDA build', 'mmcv CUDA ops'):
        assert steps[name]['status'] == SKIPPED and '--device cpu' in steps[name]['reason']
    assert 'needs CUDA' in steps['CGD-ResNet-50 training, AMP float16']['reason']
    must_pass = ('environment', 'imports (tier 1)', 'CGD layer vs float64',
                 'CGD at every position vs float64', 'CGD-ResNet-50 training, bfloat16',
                 'cost study, float32 eager', 'cost study, AMP', 'cost study, torch.compile',
                 'Mask R-CNN paper config, CGD vs plain', 'demo config, time to bbox mAP 0.5')
    assert {n: steps[n]['status'] for n in must_pass} == dict.fromkeys(must_pass, PASSED)

    rows = steps['CGD at every position vs float64']['details']['rows']
    checked = {(r['check'].split(':')[0], r['dtype']) for r in rows}
    for label, *_ in numerics.PLACEMENTS:
        assert {(label, d) for d in ('float32', 'float16', 'bfloat16')} <= checked
    assert all(r['error'] <= r['tolerance'] for r in rows)
    amp_study = steps['cost study, AMP']['details']['raw'][0]
    assert amp_study['amp'] == 'bfloat16' and 'CGD paper (before_norm1)' in amp_study['variants']
    assert steps['cost study, torch.compile']['details']['raw'][0]['compile'] == 'eager'

    markdown = (out / 'gpu_check.md').read_text()
    for name in steps:
        assert f'| {name} |' in markdown
    assert '## CGD at every position vs float64' in markdown and '| tolerance |' in markdown
    with tarfile.open(out / 'artifacts.tar.gz') as tar:
        assert any(n.endswith('benchmark.md') for n in tar.getnames())


def test_a_failing_step_records_its_first_error_line_and_the_next_step_runs(tmp_path):
    args = cli.parse_args(['--device', 'cpu', '--work', str(tmp_path)])
    ctx, record = cli.Context(args), Record(tmp_path, dict(command='test'))

    def broken(ctx):
        raise ValueError('the reason\nand more lines')

    for name, fn in (('broken', broken), ('next', lambda ctx: dict(summary='ran'))):
        record.add(cli.run_step(ctx, record, name, 1, fn))
    assert [(s.status, s.reason or s.summary) for s in record.steps] == [
        (FAILED, 'ValueError: the reason'), (PASSED, 'ran')]
    saved = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert [s['name'] for s in saved['steps']] == ['broken', 'next']


def test_a_worker_that_dies_or_hangs_fails_its_step_only(tmp_path):
    args = cli.parse_args(['--device', 'cpu', '--work', str(tmp_path)])
    ctx = cli.Context(args)
    with pytest.raises(RuntimeError, match=r'ModuleNotFoundError: No module named'):
        ctx.worker('missing', 1, 'no_such_module:fn', timeout=60)


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


def test_prepare_writes_a_carried_folder_that_travels(tmp_path):
    """Downloads about 7 MiB from PyPI; skipped where PyPI cannot be reached."""
    try:
        sizes = prepare.prepare(tmp_path / 'carry', REPO)
    except SystemExit as error:
        if 'pip download' in str(error) or 'failed' in str(error):
            pytest.skip(f'PyPI not reachable: {str(error)[:200]}')
        raise
    files = sizes['files']
    assert any(f.startswith('mmcv-2.1.0') and f.endswith('.tar.gz') for f in files)
    for package in ('mmengine-0.10.7', 'mmdet-3.3.0', 'pycocotools', 'shapely'):
        assert any(f.startswith(package) for f in files), package
    assert not any(f.startswith('torch') for f in files)
    assert sizes['carried_mib'] + sizes['tree_mib'] < 64
    assert prepare.check_wheels_match(tmp_path / 'carry') == []


def test_the_gpu_machine_command_fails_clearly_without_a_gpu(tmp_path):
    proc = subprocess.run(['bash', 'tools/misc/gpu_check.sh', '--only', 'environment', '--out',
                           str(tmp_path), '--work', str(tmp_path / 'w')], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHON=sys.executable))
    steps = json.loads((tmp_path / 'gpu_check.json').read_text())['steps']
    assert proc.returncode == 1 and steps[0]['status'] == FAILED
    assert 'torch sees no CUDA device' in steps[0]['reason']


def test_help_says_the_three_ways_to_run_it_and_lists_the_steps(capsys):
    from gpu_check import cli
    with pytest.raises(SystemExit):
        cli.parse_args(['--help'])
    shown = capsys.readouterr().out
    assert '--prepare .gpu_carry' in shown and '--device cpu --tiny' in shown
    assert 'steps, in order: ' + '; '.join(name for name, _, _ in cli.STEPS) in \
        ' '.join(shown.split())
