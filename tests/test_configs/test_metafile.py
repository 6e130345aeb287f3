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
# epochs where not mmdet's 1x (12): SSD300's 24 (of a repeated dataset), Deformable DETR's 50
# and RTMDet's 300
EPOCHS = {'ssd300_mobilenet_coco': 24, 'ssd300_mobilenet-cgd_coco': 24,
          'ssd300_mobilenet_voc0712': 24, 'ssd300_mobilenet-cgd_voc0712': 24,
          'deformable-detr_r50-cgd_16xb2-50e_coco': 50,
          'deformable-detr_r50-cgd-identity_16xb2-50e_coco': 50,
          'rtmdet_tiny-cgd_8xb32-300e_coco': 300, 'rtmdet_s-cgd_8xb32-300e_coco': 300}
# a README row: the config, then its baseline: mmdet's (`mmdet::...`), ours ([name](./name.py))
# or none ('-', the row of a baseline of ours)
ROW = re.compile(r'^\| \[([\w.-]+)\]\(\./[\w.-]+\.py\) \| '
                 r'(?:`(mmdet::[\w./-]+)`|\[[\w.-]+\]\(\./([\w.-]+)\.py\)|-) \|', re.M)


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
        assert model['In Collection'] == 'CGD'
        assert model['Metadata']['Epochs'] == EPOCHS.get(model['Name'], 12), model['Name']
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


def test_no_config_carries_results_until_it_has_weights():
    """mmdet lists Results only with Weights: the paper's numbers are not a run of these files,
    so they stay in the README, marked as the paper's."""
    for model in metafile()['Models']:
        assert 'Results' not in model, model['Name']
    readme = (CGD / 'README.md').read_text()
    for name, metrics in PAPER_RESULTS.items():
        row = next(line for line in readme.splitlines() if line.startswith(f'| [{name}]'))
        paper_cgd = row.split('|')[4]  # the 'Paper + CGD' column
        assert ' / '.join(str(metrics.get(k, '-')) for k in ('box AP', 'mask AP')) in paper_cgd


def test_readme_links_every_config_and_nothing_missing():
    readme = (CGD / 'README.md').read_text()
    linked = sorted(set(re.findall(r'\]\(\./([\w.-]+)\.py\)', readme)))
    assert linked == config_names()
    assert '@article{CGD' in readme and 'https://arxiv.org/abs/1907.09665' in readme


def load_mmdet_config(name: str):
    """'mmdet::dir/name' loaded as a base, as our configs load it (same ``_scope_`` keys):
    ``Config.fromfile`` takes no 'mmdet::' path itself."""
    from mmengine.config import Config
    return Config.fromstring(f"_base_ = '{name}.py'", '.py')


def test_each_config_is_its_readme_baseline_plus_cgd():
    """Every setting outside the backbone (and our runtime) is the baseline's: a config written
    with mmdet's bases listed, ours in place of default_runtime, trains the baseline's recipe.
    A baseline of ours (the MobileNet SSDs) is, besides, the same backbone without CGD."""
    from mmengine.config import Config
    readme = (CGD / 'README.md').read_text()
    rows = ROW.findall(readme)
    assert sorted(name for name, _, _ in rows) == config_names()
    ours_baselines = {own for _, _, own in rows if own}
    for name, mmdet_baseline, own_baseline in rows:
        ours = Config.fromfile(str(CGD / f'{name}.py'))
        if not (mmdet_baseline or own_baseline):  # a baseline of ours: some row names it
            assert name in ours_baselines and not ours.model.backbone.get('plugins'), name
            continue
        theirs = (load_mmdet_config(mmdet_baseline) if mmdet_baseline
                  else Config.fromfile(str(CGD / f'{own_baseline}.py')))
        if own_baseline:
            check_cgd_only_in_the_backbone(name, ours, theirs)
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                    'train_cfg', 'param_scheduler', 'auto_scale_lr'):
            assert ours[key] == theirs[key], (name, key)
        assert ours.optim_wrapper.optimizer == theirs.optim_wrapper.optimizer, name
        for part in set(ours.model) | set(theirs.model):
            if part != 'backbone':
                assert drop_in(ours.model.get(part)) == drop_in(theirs.model.get(part)), (
                    name, part)
        assert ours.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
        assert ours.custom_imports.imports == ['mmdet_cgd']


def drop_in(part):
    """A model part with our drop-in fix of an mmdet module named as mmdet's module."""
    if isinstance(part, dict) and part.get('type') == 'PredictableSSDHead':
        return dict(part, type='SSDHead')
    return part


def check_cgd_only_in_the_backbone(name, ours, theirs):
    """Against a baseline of ours: the backbone differs only by CGD (plugins, its ImageNet
    checkpoint), the optimizer only by CGD's weight decay, and the runtime not at all."""
    ours_bb, theirs_bb = dict(ours.model.backbone), dict(theirs.model.backbone)
    assert ours_bb.pop('plugins') and not theirs_bb.pop('plugins', None), name
    ours_init, theirs_init = dict(ours_bb.pop('init_cfg')), dict(theirs_bb.pop('init_cfg'))
    assert ours_bb == theirs_bb, name
    assert ours_init.pop('checkpoint') != theirs_init.pop('checkpoint'), name
    assert ours_init == theirs_init, name
    assert set(ours.optim_wrapper) - set(theirs.optim_wrapper) == {'paramwise_cfg'}, name
    assert set(ours.optim_wrapper.paramwise_cfg.custom_keys) == {'.cgd.'}, name
    for key in ('default_hooks', 'custom_hooks', 'custom_imports', 'env_cfg', 'load_from'):
        assert ours.get(key) == theirs.get(key), (name, key)
