"""configs/cgd/metafile.yml and README.md list every config there, and nothing else."""
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CGD = REPO / 'configs' / 'cgd'
# the two configs with published numbers: the paper's R-50 FPN rows (its table, with CGD)
PAPER_RESULTS = {
    'faster-rcnn_r50-cgd_fpn_1x_coco': {'box AP': 37.9},
    'mask-rcnn_r50-cgd_fpn_1x_coco': {'box AP': 38.8, 'mask AP': 35.4},
}


def metafile():
    return yaml.safe_load((CGD / 'metafile.yml').read_text())


def config_names():
    return sorted(p.stem for p in CGD.glob('*.py'))


def test_every_config_has_one_metafile_entry_and_every_entry_a_config():
    models = metafile()['Models']
    names = [m['Name'] for m in models]
    assert len(names) == len(set(names)), 'duplicate names'
    assert sorted(names) == config_names()
    for model in models:
        assert model['Config'] == f"configs/cgd/{model['Name']}.py"
        assert (REPO / model['Config']).is_file(), model['Config']
        assert model['In Collection'] == 'CGD' and model['Metadata']['Epochs'] == 12
        assert 'Weights' not in model, 'no checkpoints have been published'


def test_collection_has_mmdet_fields_and_existing_paths():
    (collection, ) = metafile()['Collections']
    assert collection['Name'] == 'CGD'
    assert set(collection['Metadata']) == {'Training Data', 'Training Techniques',
                                           'Training Resources', 'Architecture'}
    assert collection['Paper'] == {'URL': 'https://arxiv.org/abs/1907.09665',
                                   'Title': 'Compact Global Descriptor for Neural Networks'}
    assert (REPO / collection['README']).is_file()
    assert (REPO / collection['Code']['URL']).is_file() and collection['Code']['Version']


def test_only_the_paper_reproduction_configs_carry_results_and_they_are_the_papers():
    for model in metafile()['Models']:
        metrics = {k: v for r in model.get('Results', []) for k, v in r['Metrics'].items()}
        assert metrics == PAPER_RESULTS.get(model['Name'], {}), model['Name']
        for result in model.get('Results', []):
            assert result['Dataset'] == 'COCO'
            assert result['Task'] == {'box AP': 'Object Detection',
                                      'mask AP': 'Instance Segmentation'}[
                                          next(iter(result['Metrics']))]


def test_readme_links_every_config_and_nothing_missing():
    readme = (CGD / 'README.md').read_text()
    linked = sorted(set(re.findall(r'\]\(\./([\w.-]+)\.py\)', readme)))
    assert linked == config_names()
    assert '@article{CGD' in readme and 'https://arxiv.org/abs/1907.09665' in readme


def mmdet_baseline(config: str) -> str:
    """The ``mmdet::`` config that ``config``'s chain of ``_base_`` files ends in."""
    text = (CGD / f'{config}.py').read_text()
    (base, ) = re.findall(r"^_base_ = '([^']+)'", text, re.M)
    if base.startswith('mmdet::'):
        return base[:-len('.py')] if base.endswith('.py') else base
    return mmdet_baseline(Path(base).stem)


def test_readme_baselines_are_mmdet_configs_of_each_configs_family():
    import mmdet
    mmdet_configs = Path(mmdet.__file__).parent / '.mim' / 'configs'
    readme = (CGD / 'README.md').read_text()
    rows = re.findall(r'^\| \[([\w.-]+)\]\(\./[\w.-]+\.py\) \| `(mmdet::[\w./-]+)` \|', readme,
                      re.M)
    assert sorted(name for name, _ in rows) == config_names()
    for name, baseline in rows:
        # R-101 configs build on the R-50 CGD ones: same mmdet family, deeper baseline
        assert baseline.split('/')[0] == mmdet_baseline(name).split('/')[0], name
        assert (mmdet_configs / f"{baseline[len('mmdet::'):]}.py").is_file(), baseline
