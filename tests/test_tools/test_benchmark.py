"""The benchmark tool at a toy size: every column measured, ratios to plain, table and chart."""
import cv2

from tool_helpers import python


def test_benchmark_writes_table_and_chart(tmp_path):
    proc = python('tools/analysis_tools/benchmark.py', '--models', 'backbone', '--variants', 'plain',
                  'CGD paper (before_norm1)', 'GCNet r16 c3-c5', '--size', '64', '96',
                  '--batch', '1', '--repeats', '1', '--warmup', '0', '--bandwidth-shape', '1',
                  '8', '32', '32', '--out-dir', tmp_path)
    table = (tmp_path / 'benchmark.md').read_text()
    rows = [line for line in table.splitlines() if line.startswith('| ')]
    names = [r.split('|')[1].strip() for r in rows]
    assert names[:4] == ['variant', 'plain', 'CGD paper (before_norm1)', 'GCNet r16 c3-c5']
    plain = rows[1].split('|')
    assert plain[3].strip() == '+0' and plain[6].strip() == '1.000'  # ratios to itself
    cgd = rows[2].split('|')
    assert cgd[3].strip() == '+22,656'  # 6 x the hosting channels of ResNet-50
    assert 'bound: read + read/write' in table and 'CGD forward, training (fused)' in table
    assert cv2.imread(str(tmp_path / 'benchmark.png')) is not None
    assert 'wrote' in proc.stdout
