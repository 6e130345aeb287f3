"""What the docs and requirements say about the configs and the set-up is what they are (#26,
case 7); the README stays short and every relative link of the docs leads somewhere (#29); and
the detection configs select what configs/_base_/cgd_runtime.py selects, also where they cannot
inherit it (RTMDet's, DINO's and Deformable DETR's bases are whole mmdet configs: mmengine
refuses a key two bases define)."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).parents[2]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)
DETECTION = [p for p in CONFIGS if p.parent.name in ('cgd', 'demo')]

# hooks the mmdet baselines bring, which configs inheriting a whole one keep (RTMDet)
BASELINE_HOOKS = ('NumClassCheckHook', 'EMAHook', 'PipelineSwitchHook')


DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md')),
        REPO / 'configs' / 'cgd' / 'README.md', REPO / 'configs' / 'cgd_imagenet' / 'README.md']
LINK = re.compile(r'\]\(([^)\s]+)\)')  # [text](target) and ![alt](target)


def anchors(path):
    """GitHub's heading anchors of a markdown file: lower case, punctuation but '-' and '_'
    dropped, spaces to '-', a repeated one suffixed -1, -2, ..."""
    seen, found = {}, set()
    text = re.sub(r'^```.*?^```', '', path.read_text(), flags=re.S | re.M)
    for heading in re.findall(r'^#{1,6}\s+(.+?)\s*$', text, flags=re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
        found.add(slug if slug not in seen else f'{slug}-{seen[slug]}')
        seen[slug] = seen.get(slug, 0) + 1
    return found


def test_the_readme_is_short():
    lines = (REPO / 'README.md').read_text().splitlines()
    assert len(lines) <= 150, f'README.md has {len(lines)} lines: move details to docs/'


def test_the_readme_holds_no_dated_notes():
    """Dated records live in docs/records.md; the README links there (a link's target may
    name a dated heading)."""
    text = LINK.sub('', (REPO / 'README.md').read_text())
    assert not re.findall(r'\b20\d\d-\d\d-\d\d\b', text)


@pytest.mark.parametrize('doc', DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_to_files_and_headings(doc):
    broken = []
    for target in LINK.findall(re.sub(r'^```.*?^```', '', doc.read_text(), flags=re.S | re.M)):
        if re.match(r'[a-z]+:', target):  # https:, mailto:
            continue
        file, _, anchor = target.partition('#')
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == '.md' and anchor not in anchors(path):
            broken.append(target)
    assert not broken, (doc.name, broken)


def test_the_link_check_sees_a_broken_link_and_anchor(tmp_path):
    (tmp_path / 'a.md').write_text('# A page, 2026\n\n## A page, 2026\n')
    assert anchors(tmp_path / 'a.md') == {'a-page-2026', 'a-page-2026-1'}
    doc = tmp_path / 'b.md'
    doc.write_text('[ok](a.md#a-page-2026-1) [gone](c.md) [no heading](a.md#nowhere)\n')
    with pytest.raises(AssertionError, match=r"\['c.md', 'a.md#nowhere'\]"):
        test_relative_links_lead_to_files_and_headings(doc)


# records.md and cost.md are dated records, kept as written: a path there may be gone since.
CURRENT_DOCS = [p for p in DOCS if p.name not in ('records.md', 'cost.md')]
REPO_PATH = re.compile(r'`((?:tests|tools|mmdet_cgd|configs|docs|demo|requirements|\.dev_scripts)'
                       r'/[\w./-]*)`')


@pytest.mark.parametrize('doc', CURRENT_DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_repository_paths_the_docs_name_exist(doc):
    """`tools/...`, `tests/...` and the like in backticks name files of this repository (not
    those a wheel holds under `.mim/`)."""
    missing = [p for p in REPO_PATH.findall(doc.read_text())
               if '.mim/' not in p and not (REPO / p).exists()]
    assert not missing, (doc.name, missing)


def test_the_readme_recipe_is_the_one_run_through_mmdets_tools():
    """tests/test_tools/test_train_test.py trains and tests RECIPE with mmdet's own tools: the
    README's first config block must hold every line of it."""
    tested = re.search(r'^RECIPE = """(.*?)"""', (REPO / 'tests' / 'test_tools' /
                       'test_train_test.py').read_text(), flags=re.S | re.M).group(1)
    section = (REPO / 'README.md').read_text().split('## Add CGD to any mmdet config')[1]
    shown = re.search(r'```python\n(.*?)```', section, flags=re.S).group(1).splitlines()
    missing = [line for line in tested.strip().splitlines() if line not in shown]
    assert not missing, missing


def test_the_docs_give_every_base_batch_of_auto_scale_lr():
    sentence = next(s for s in re.split(r'(?<=\.)\s', (REPO / 'docs' / 'usage.md').read_text())
                    if '--auto-scale-lr' in s)
    numbers = set(re.findall(r'\d+', sentence))
    for path in CONFIGS:
        scale = Config.fromfile(str(path)).get('auto_scale_lr')
        if scale and scale.get('enable', True) is not False:
            assert str(scale.base_batch_size) in numbers, (path.name, sentence)


def test_requirements_name_files_that_exist():
    for path in (REPO / 'requirements').glob('*.txt'):
        for name in re.findall(r'\btools/[\w./-]+\w', path.read_text()):
            assert (REPO / name).exists(), (path.name, name)


@pytest.mark.parametrize('path', DETECTION, ids=lambda p: p.stem)
def test_detection_configs_select_our_runtime(path):
    runtime = Config.fromfile(str(REPO / 'configs' / '_base_' / 'cgd_runtime.py'))
    mmdets = Config.fromstring("_base_ = 'mmdet::_base_/default_runtime.py'", '.py')
    cfg = Config.fromfile(str(path))
    for name in set(runtime.default_hooks) - set(mmdets.default_hooks):  # hooks ours adds
        assert cfg.default_hooks.get(name) == runtime.default_hooks[name], name
    assert cfg.custom_imports == runtime.custom_imports
    assert cfg.randomness == runtime.randomness
    assert cfg.default_hooks.checkpoint.backend_args == \
        runtime.default_hooks.checkpoint.backend_args
    assert cfg.default_hooks.logger.type == runtime.default_hooks.logger.type
    assert [h for h in cfg.custom_hooks if h.type not in BASELINE_HOOKS] == runtime.custom_hooks
