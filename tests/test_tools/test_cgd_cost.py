"""The cost study: its statistics on samples with known answers, its pairing, its verdicts, the
layer against its bound, and the tool end to end at a toy size (tables, chart, raw samples with
the command that made them, quiet output)."""
import json
import math
import random
import runpy

import cv2
import pytest
from cgd_cost.memory import step_peaks
from cgd_cost.stats import MET, MISSED, NOT_RESOLVED, Interval, median_interval, verdict
from cgd_cost.targets import GOALS, PAPER, target_rows
from cgd_cost.timing import paired_times, ratios
from tool_helpers import REPO, python

BENCHMARK = 'tools/analysis_tools/measure_cgd_cost.py'


def test_median_interval_takes_the_order_statistics_binomial_tails_allow():
    iv = median_interval(list(range(12, 0, -1)))  # unsorted input
    # P(Bin(12, 1/2) <= 2) = 79 / 4096: [x_(3), x_(10)] holds the median with 1 - 2 * that
    assert (iv.median, iv.low, iv.high, iv.samples) == (6.5, 3, 10, 12)
    assert iv.coverage == pytest.approx(1 - 2 * 79 / 4096)
    assert iv.coverage >= 0.95 > 1 - 2 * 299 / 4096  # the next narrower one would not reach it
    six = median_interval([5, 1, 4, 2, 6, 3])
    assert (six.low, six.high) == (1, 6) and six.coverage == pytest.approx(1 - 2 / 64)


def test_too_few_samples_give_the_whole_range_and_their_lower_coverage():
    iv = median_interval([1.0, 1.01, 1.02, 1.0, 1.01])
    assert (iv.low, iv.high) == (1.0, 1.02)
    assert iv.coverage == pytest.approx(1 - 2 / 32) and iv.coverage < 0.95
    assert median_interval([2.0]).coverage == 0
    assert verdict(iv, goal=1.5) == NOT_RESOLVED  # inside the goal, but not at 95%


def test_interval_holds_the_true_median_as_often_as_it_claims():
    rng = random.Random(0)
    true_median = math.log(2)  # of Exp(1): skewed, as timing noise is
    trials = 2000
    hits = 0
    for _ in range(trials):
        iv = median_interval([rng.expovariate(1.0) for _ in range(12)])
        hits += iv.low <= true_median <= iv.high
    # claimed 96.1%; the binomial standard error over 2000 trials is 0.4%
    assert abs(hits / trials - (1 - 2 * 79 / 4096)) < 0.02


def test_median_interval_rejects_bad_input_and_says_what_it_got():
    with pytest.raises(ValueError, match='at least one sample, got none'):
        median_interval([])
    with pytest.raises(ValueError, match=r'confidence must be in \(0, 1\), got 95'):
        median_interval([1, 2, 3], confidence=95)


@pytest.mark.parametrize('low, high, expected', [
    (1.00, 1.019, MET), (1.00, 1.02, MET), (1.01, 1.03, NOT_RESOLVED), (1.021, 1.05, MISSED)])
def test_verdict_needs_the_whole_interval_on_one_side_of_the_goal(low, high, expected):
    iv = Interval(median=(low + high) / 2, low=low, high=high, coverage=0.96, samples=12)
    assert verdict(iv, goal=1.02) == expected


def test_pairs_alternate_their_order_and_warmup_is_untimed():
    calls = []

    def fn(name):
        return lambda: calls.append(name)

    times = paired_times({'a': (fn('base'), fn('a')), 'b': (fn('base'), fn('b'))}, rounds=3,
                         warmup=1, device='cpu')
    assert calls[:4] == ['base', 'a', 'base', 'b']  # warm-up
    timed = [calls[i:i + 2] for i in range(4, len(calls), 2)]
    assert timed == [['base', 'a'], ['b', 'base'],  # round 0
                     ['a', 'base'], ['base', 'b'],  # round 1: each pair flips its order
                     ['base', 'a'], ['b', 'base']]
    assert [len(times[k]) for k in 'ab'] == [3, 3]
    assert ratios([(2.0, 3.0), (4.0, 2.0)]) == [1.5, 0.5]
    with pytest.raises(ValueError, match='at least 1, got 0'):
        paired_times({'a': (fn('base'), fn('a'))}, rounds=0, warmup=0, device='cpu')


def test_fresh_processes_measure_the_same_peak_for_the_same_step():
    peaks = step_peaks('backbone', ['plain'], (128, 128), 1, 'cpu', runs=2)
    first, second = peaks['plain']
    assert first > 10 * 2**20  # the activations of a ResNet-50 step at 128x128
    # mmap-served tensors: no heap fragmentation; what small allocations and thread arenas add
    # varies by a few hundred KiB (0.5 MiB seen with other jobs on the cores)
    assert abs(first - second) < max(0.02 * first, 2**20)


def _synthetic_result(forward, forward_backward, peaks, model='backbone', device='cpu'):
    """A result whose paper-placement ratios are the given lists."""
    pairs = [(1.0, r) for r in forward]
    return dict(model=model, device=device, size=[64, 64], batch=1, rounds=len(forward),
                memory_runs=len(
        peaks), variants={'plain': dict(peak_bytes=[100] * len(peaks)), PAPER: dict(
            forward=pairs, forward_backward=[(2.0, 2.0 * r) for r in forward_backward],
            peak_bytes=[100 * p for p in peaks])})


def test_targets_get_a_verdict_from_their_interval():
    result = _synthetic_result(forward=[1.03 + i / 1000 for i in range(12)],  # within 1.05
                               forward_backward=[1.09 + i / 1000 for i in range(12)],  # > 1.08
                               peaks=[1.04, 1.06, 1.05, 1.03, 1.07, 1.04])  # straddles 1.05
    rows = target_rows([result], 0.95)
    got = {r['target']: (r['goal'], r['verdict']) for r in rows}
    assert got == {'forward': (1.05, MET), 'training step': (1.08, MISSED),
                   'training-step peak memory': (1.05, NOT_RESOLVED)}
    assert rows[0]['workload'] == 'ResNet-50, 1x3x64x64, 12 paired rounds'


def test_goals_follow_the_device_and_the_model():
    same = [1.0] * 12
    cuda = target_rows([_synthetic_result(same, same, [1.0] * 6, 'mask_rcnn', 'cuda:0'),
                        _synthetic_result(same, same, [1.0] * 6, 'backbone', 'cuda')], 0.95)
    assert [(r['target'], r['goal']) for r in cuda] == [
        ('training iteration', 1.03), ('training-step peak memory', 1.02),
        ('training step', 1.03)]
    assert target_rows([_synthetic_result(same, same, [1.0] * 6, 'mask_rcnn')], 0.95) == []
    assert {g for goals in GOALS.values() for _, _, g in goals} <= {1.02, 1.03, 1.05, 1.08}


def _table(markdown, heading):
    """The rows (cells) of the first table after ``heading``."""
    lines = markdown.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('|'))
    rows = []
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        rows.append([c.strip() for c in line.strip('|').split('|')])
    return rows[0], rows[2:]


def test_tool_end_to_end_writes_tables_with_intervals_chart_and_raw_samples(tmp_path):
    variants = ['plain', PAPER, 'GCNet r16 c3-c5']
    proc = python(BENCHMARK, '--variants', *variants, '--size', '64', '96', '--rounds', '2',
                  '--memory-runs', '1', '--headline-size', '64', '64', '--headline-batch', '1',
                  '--headline-rounds', '1', '--headline-memory-runs', '0', '--flops-size', '64',
                  '64', '--warmup', '0', '--markdown', tmp_path / 'doc' / 'bench.md', '--chart',
                  tmp_path / 'doc' / 'images' / 'bench.png', timeout=300)
    markdown = (tmp_path / 'doc' / 'bench.md').read_text()
    assert f'Command: `python {BENCHMARK} --variants plain' in markdown
    assert '![benchmark](images/bench.png)' in markdown

    head, rows = _table(markdown, '## ResNet-50 backbone, 1 x 3 x 64 x 96')
    assert head == ['variant', 'params', 'extra params', 'GFLOPs/img at 64x64', 'forward',
                    'x plain', 'fwd+bwd', 'x plain', 'peak memory (min-max)', 'x plain']
    assert [r[0] for r in rows] == variants
    assert rows[0][2] == '+0' and rows[0][5] == '1' and rows[0][9] == '1'
    assert rows[1][2] == '+22,656'  # 6 x the hosting channels of ResNet-50
    for cell in (rows[1][5], rows[1][7], rows[2][9]):  # median [low, high]
        median, low, high = map(float, cell.replace('[', '').replace(']', '').replace(',', '')
                                .split())
        assert low <= median <= high

    head, rows = _table(markdown, '## ResNet-50 backbone, 1 x 3 x 64 x 64')  # headline
    assert 'GFLOPs' not in ' '.join(head) and [r[0] for r in rows] == ['plain', PAPER]
    assert 'memory' not in ' '.join(head)  # --headline-memory-runs 0: timings only

    head, rows = _table(markdown, '## Targets')
    assert head[-2:] == ['coverage', 'verdict']
    assert [r[0] for r in rows] == ['forward', 'training step', 'training-step peak memory',
                                    'forward', 'training step']
    # 2 rounds, 1 process: intervals hold the median with < 95%, so no verdict is made
    assert {r[-1] for r in rows} == {NOT_RESOLVED}
    assert 'too few for a verdict' in markdown

    raw = json.loads((tmp_path / 'doc' / 'bench.json').read_text())
    assert raw['command'].startswith(f'python {BENCHMARK} --variants plain')
    assert raw['command'].endswith('bench.png') and raw['layer_bound'] is None
    assert len(raw['models'][0]['variants'][PAPER]['forward']) == 2
    assert len(raw['models'][0]['variants']['plain']['peak_bytes']) == 1
    assert cv2.imread(str(tmp_path / 'doc' / 'images' / 'bench.png')) is not None

    # progress and tables only: no per-parameter init log from mmengine
    assert 'init' not in proc.stdout.lower() and 'init' not in proc.stderr.lower()
    assert len(proc.stdout.splitlines()) < 100


@pytest.fixture(scope='module')
def tool():
    return runpy.run_path(str(REPO / BENCHMARK))  # its functions, without running main()


@pytest.mark.parametrize('args, message', [
    (['--variants', 'plain'], "give at least one variant besides 'plain'"),
    (['--rounds', '0'], '--rounds must be at least 1, got 0'),
    (['--headline-rounds', '-1'], '--headline-rounds must be 0 or more, got -1'),
    (['--confidence', '1.5'], '--confidence must be in (0, 1), got 1.5'),
    (['--variants', 'CBAM'], "invalid choice: 'CBAM'"),
])
def test_tool_refuses_bad_options_with_what_it_expected(tool, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        tool['parse_args'](args)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_tool_puts_the_raw_samples_beside_the_markdown(tool, tmp_path):
    args = tool['parse_args'](['--out-dir', str(tmp_path)])
    assert (args.markdown, args.chart, args.raw) == (
        tmp_path / 'benchmark.md', tmp_path / 'benchmark.png', tmp_path / 'benchmark.json')
    assert args.variants[0] == 'plain' and PAPER in args.variants


def _write_run(path, forward, forward_backward, peaks):
    raw = dict(models=[_synthetic_result(forward, forward_backward, peaks)])
    path.write_text(json.dumps(raw))
    return path


def test_compare_says_per_target_whether_two_runs_agree(tmp_path):
    from cgd_cost.compare import agreement_table
    same = [1.0 + i / 1000 for i in range(12)]
    first = _write_run(tmp_path / 'a.json', same, same, [1.0] * 6)
    second = _write_run(tmp_path / 'b.json', same, [1.2 + i / 1000 for i in range(12)],
                        [1.0] * 6)
    rows = [line.split('|')[1:-1] for line in agreement_table(first, second).splitlines()[2:]]
    got = {r[0].strip(): (r[4].strip(), r[5].strip()) for r in rows}
    assert got == {'forward': ('yes', 'yes'), 'training step': ('**no**', 'no'),
                   'training-step peak memory': ('yes', 'yes')}

    other = _write_run(tmp_path / 'c.json', same[:6], same[:6], [1.0] * 6)  # 6 rounds, not 12
    with pytest.raises(ValueError, match='measured different targets'):
        agreement_table(first, other)
    proc = python(BENCHMARK, '--compare', first, tmp_path / 'missing.json', check=False)
    assert proc.returncode == 2 and 'not found' in proc.stderr and 'missing.json' in proc.stderr


def test_off_the_cpu_memory_is_measured_in_this_process(monkeypatch):
    """The path a CUDA run takes, on ``meta`` (a device that is not the CPU): no child process
    (a forked one cannot use CUDA, a spawned one pays every import again)."""
    import cgd_cost.memory

    def no_child(method):
        raise AssertionError(f'a {method} child process was asked for')

    monkeypatch.setattr(cgd_cost.memory.multiprocessing, 'get_context', no_child)
    peaks = step_peaks('backbone', ['plain', PAPER], (64, 64), 1, 'meta', runs=2)
    assert [len(v) for v in peaks.values()] == [2, 2]
    assert all(isinstance(p, int) for v in peaks.values() for p in v)


def test_the_seven_pass_bound_is_seven_activations_at_the_copy_bandwidth():
    import torch
    from cgd_cost.bound import bound_seconds
    assert bound_seconds((2, 3, 4, 5), torch.float16, 1e9) == pytest.approx(7 * 120 * 2 / 1e9)
    assert bound_seconds((2, 3, 4, 5), torch.float32, 1e9) == pytest.approx(7 * 120 * 4 / 1e9)


def test_the_layer_against_its_bound_gives_a_row_per_shape_and_dtype():
    from cgd_cost.bound import bound_table, layer_against_bound
    result = layer_against_bound('cpu', shapes=((1, 4, 5, 5), (2, 2048, 25, 38)), rounds=3,
                                 warmup=1, copy_bytes=2**20)
    assert result['bandwidth'] > 0
    rows = {(tuple(r['shape']), r['dtype']): r for r in result['rows']}
    assert set(rows) == {(s, d) for s in ((1, 4, 5, 5), (2, 2048, 25, 38))
                         for d in ('float32', 'float16')}
    for r in rows.values():
        for path in ('cgd', 'pytorch_path'):  # backend='auto' and 'pytorch'
            assert r[path]['low'] <= r[path]['median'] <= r[path]['high']
        assert r['ratio'] == pytest.approx(r['cgd']['median'] / r['bound'])
        assert r['path'].startswith('PyTorch path')  # CPU tensors: no Triton here
    assert rows[((2, 2048, 25, 38), 'float32')]['goal'] == '<= 0.10 ms'
    assert rows[((1, 4, 5, 5), 'float16')]['goal'] == '<= 1.5x bound'
    table = bound_table(result)
    assert table.count('\n| 1, 4, 5, 5 |') == 2 and 'GB/s' in table


def test_mask_rcnn_pairs_cgd_with_plain_per_training_iteration():
    from cgd_cost.suite import measure_model
    result = measure_model('mask_rcnn', ['plain', PAPER], (64, 64), 1, rounds=1, warmup=0,
                           memory_runs=0, device='cpu', log=lambda text: None)
    pairs = result['variants'][PAPER]['forward_backward']
    assert len(pairs) == 1 and all(t > 0 for t in pairs[0])
    assert result['variants'][PAPER]['params'] > result['variants']['plain']['params']
