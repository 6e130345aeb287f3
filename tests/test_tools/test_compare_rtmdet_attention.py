"""The RTMDet-tiny attention comparison (.dev_scripts/compare_rtmdet_attention.py) end to end at a
toy size: three variants trained and tested through our tools, a table row each whose attention
parameters are those of the modules the variant's options build (mmdet's ChannelAttention and
CGD as configs/cgd/README.md counts them), the raw samples and the chart written."""
import json
import re

import cv2
import pytest
import torch
from mmdet.models.layers import ChannelAttention
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from tool_helpers import FAST_LOADING, REPO, python

from mmdet_cgd.models import CGD

SCRIPT = '.dev_scripts/compare_rtmdet_attention.py'
CONFIG = REPO / 'configs' / 'demo' / 'rtmdet_tiny_synthetic.py'
TINY = ['--num-train', '4', '--num-val', '2', '--image-size', '64', '--max-iters', '2',
        '--timing-rounds', '2', '--warmup', '1', '--jobs', '3', '--cfg-options', *FAST_LOADING]
# the table's label -> (the backbone options that make the variant, its attention module)
VARIANTS = {
    "mmdet's ChannelAttention": ({'attention_cfg': None}, ChannelAttention),
    'CGD': ({}, CGD),
    'none': ({'channel_attention': False, 'attention_cfg': None}, None),
}


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp('compare')
    proc = python(SCRIPT, '--work-dir', root / 'work', '--markdown', root / 'records.md',
                  '--chart', root / 'images' / 'attention.png', *TINY)
    return root, proc.stdout + proc.stderr


def table_rows(markdown: str) -> dict:
    """The table's rows by their first cell, as ``{label: {column: cell}}``."""
    lines = [line for line in markdown.splitlines() if line.startswith('| ')]
    head = [c.strip() for c in lines[0].strip('|').split('|')]
    rows = [[c.strip() for c in line.strip('|').split('|')] for line in lines[1:]]
    return {row[0]: dict(zip(head, row)) for row in rows}


def readme_attention_counts() -> tuple:
    """(mmdet's, CGD's) attention parameters of RTMDet-tiny, from configs/cgd/README.md."""
    readme = (REPO / 'configs' / 'cgd' / 'README.md').read_text()
    row = next(line for line in readme.splitlines()
               if line.startswith('| [rtmdet_tiny-cgd_8xb32-300e_coco]'))
    cell = row.split('|')[4]  # 'Attention parameters, mmdet / CGD'
    mmdet, cgd = re.fullmatch(r'\s*([\d,]+) / ([\d,]+)\s*', cell).groups()
    return int(mmdet.replace(',', '')), int(cgd.replace(',', ''))


def built_attention(backbone_options: dict) -> tuple:
    """The attention modules' types and parameters in the demo config's model built with these
    backbone options."""
    register_all_modules()
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.backbone.update(backbone_options)
    model = MODELS.build(cfg.model)
    modules = [m for m in model.modules() if isinstance(m, (ChannelAttention, CGD))]
    return {type(m) for m in modules}, sum(p.numel() for m in modules for p in m.parameters())


def test_each_variant_is_trained_tested_and_tabled(study):
    root, log = study
    assert log.count('Iter(train) [2/2]') == 0  # --jobs 3: the tools' output went to files
    for name in ('ChannelAttention', 'CGD', 'none'):
        work = root / 'work' / name
        assert 'Iter(train) [2/2]' in (work / 'train.log').read_text()
        assert (work / 'iter_2.pth').is_file()
        assert 'Iter(test) [1/1]' in (work / 'test.log').read_text()  # 2 val images, batch 2
    markdown = (root / 'records.md').read_text()
    rows = table_rows(markdown)
    assert list(rows) == list(VARIANTS)
    assert rows["mmdet's ChannelAttention"]['training step'].endswith(' s')
    assert re.fullmatch(r'[\d.]+ \[[\d.]+, [\d.]+\]', rows['CGD']['x ChannelAttention'])
    assert f'torch {torch.__version__}' in markdown and 'threads' in markdown
    assert '--max-iters 2' in markdown
    assert '![RTMDet-tiny attention](images/attention.png)' in markdown
    raw = json.loads((root / 'records.json').read_text())
    assert [it for it, _ in raw['results']['CGD']['curve']] == [1, 2]  # validated at 1 and 2
    assert len(raw['times']['CGD / training step']) == 2  # 2 rounds of (baseline, CGD)


def test_attention_counts_are_the_built_modules_and_the_readmes(study):
    root, _ = study
    rows = table_rows((root / 'records.md').read_text())
    counts = {label: int(rows[label]['attention parameters'].replace(',', ''))
              for label in VARIANTS}
    for label, (options, kind) in VARIANTS.items():
        kinds, parameters = built_attention(options)
        assert kinds == ({kind} if kind else set()), label
        assert counts[label] == parameters, label
    mmdet, cgd = readme_attention_counts()
    assert (counts["mmdet's ChannelAttention"], counts['CGD'], counts['none']) == (mmdet, cgd, 0)


def test_the_chart_is_written(study):
    root, _ = study
    image = cv2.imread(str(root / 'images' / 'attention.png'))
    assert image is not None and image.shape == (440, 1500, 3)
