"""Mistakes in configs and datasets are errors that say what was expected, given, and where."""
import json

import pytest
from mmengine.config import Config
from synthetic_coco import CLASSES
from tool_helpers import DEMO_CONFIG, python

from mmdet_cgd.cli.coco_checks import check_coco_file, check_dataloader_data
from mmdet_cgd.cli.plugin_checks import check_backbone_plugins

CGD = dict(cfg=dict(type='CGD'), position='after_conv1')


def model_with(backbone):
    return dict(type='FasterRCNN', backbone=backbone)


def test_cgd_on_a_stock_basic_block_resnet_points_to_the_variant():
    with pytest.raises(ValueError, match=r"model.backbone.plugins\[0\]: mmdet's ResNet-18 .* "
                                         r"takes no plugins.*type='CGDResNet'"):
        check_backbone_plugins(model_with(dict(type='ResNet', depth=18, plugins=[CGD])))


@pytest.mark.parametrize('position,hint', [('after_conv4', ''),
                                           ('before_norm1', "needs type='CGDResNet'")])
def test_unknown_position_on_a_stock_resnet(position, hint):
    bad = dict(CGD, position=position)
    with pytest.raises(ValueError, match=rf"model.backbone.plugins\[0\] \(ResNet\): position must "
                                         rf"be one of .* got '{position}'.*{hint}"):
        check_backbone_plugins(model_with(dict(type='ResNet', depth=50, plugins=[bad])))


def test_valid_configs_pass():
    check_backbone_plugins(model_with(dict(type='ResNet', depth=50, plugins=[CGD])))
    check_backbone_plugins(model_with(dict(type='CGDResNet', depth=18, plugins=[
        dict(cfg=dict(type='CGD'), position='before_norm1')])))


@pytest.mark.parametrize('kind', ['Res2Net', 'mmdet.Res2Net'])
def test_stock_res2net_with_plugins_points_to_cgdres2net(kind):
    with pytest.raises(ValueError, match=r"model.backbone.plugins\[0\]: mmdet's Res2Net builds "
                                         r"plugins for "
                                         r"planes channels .* use type='CGDRes2Net'"):
        check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[CGD])))
    check_backbone_plugins(model_with(dict(type=kind, depth=50)))


@pytest.mark.parametrize('kind', ['ResNeXt', 'RegNet', 'ResNeSt'])
def test_before_norm1_on_a_stock_backbone_names_our_variant(kind):
    bad = dict(CGD, position='before_norm1')
    with pytest.raises(ValueError, match=rf"\({kind}\): position must be one of .*, got "
                                         rf"'before_norm1' \('before_norm1' needs "
                                         rf"type='CGD{kind}'\)"):
        check_backbone_plugins(model_with(dict(type=kind, plugins=[bad])))


def test_inplace_cgd_at_a_stock_position_is_refused():
    bad = dict(cfg=dict(type='CGD', inplace=True), position='after_conv3')
    for kind in ('ResNet', 'CGDResNeXt'):
        with pytest.raises(ValueError, match="inplace=True is for 'before_norm1' only"):
            check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[bad])))


def test_backbones_without_resnet_blocks_name_the_supported_ones():
    supported = 'CGDResNet, CGDResNetV1d, CGDResNeXt, CGDRegNet, CGDResNeSt, CGDRes2Net'
    with pytest.raises(ValueError, match=rf"model.backbone: no backbone 'CGDHRNet'; .* "
                                         rf"served by {supported}"):
        check_backbone_plugins(model_with(dict(type='CGDHRNet', extra={})))
    paper = dict(cfg=dict(type='CGD'), position='before_norm1')
    for kind in ('HRNet', 'CSPNeXt', 'SwinTransformer', 'PyramidVisionTransformer'):
        with pytest.raises(ValueError, match=rf"model.backbone: {kind} takes no plugins .*"
                                             rf"CGD plugs into {supported}, CGDMobileNet, "
                                             rf"and mmdet's ResNet, .*ResNeSt at"):
            check_backbone_plugins(model_with(dict(type=kind, plugins=[paper])))
    with pytest.raises(ValueError, match=r"for RTMDet's CSPNeXt use type='CGDCSPNeXt', CGD as "
                                         r"its channel attention \(attention_cfg\)"):
        check_backbone_plugins(model_with(dict(type='CSPNeXt', plugins=[paper])))
    check_backbone_plugins(model_with(dict(type='CSPNeXt')))  # no plugins: nothing to say
    with pytest.raises(ValueError, match=r"\(CGDResNet\): position must be one of "
                                         r"\('before_norm1',\), got 'after_conv1'"):
        check_backbone_plugins(model_with(dict(type='CGDResNet', depth=34, plugins=[CGD])))
    check_backbone_plugins(model_with(dict(type='CGDRegNet', arch='regnetx_3.2gf',
                                           plugins=[paper, CGD])))


def test_cgd_without_in_channels_says_how_to_build_it():
    from mmengine.registry import MODELS

    import mmdet_cgd  # noqa: F401
    with pytest.raises(ValueError, match='in_channels must be a positive int .* got None'):
        MODELS.build(dict(type='CGD'))


def test_annotation_file_that_is_not_a_json_object_and_a_missing_image_folder(tiny_coco,
                                                                             tmp_path):
    """Read no further than its first bytes: mmdet parses the file once, later."""
    for name, text in (('b.json', 'images: 1'), ('c.json', '[{"images": []}]')):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=rf"{name}' is not a COCO json: expected a JSON "
                                             r"object \('\{' first\), got b'"):
            check_coco_file(tmp_path / name, tmp_path)
    with pytest.raises(ValueError, match="image folder not found: expected the images of "
                                         ".*instances_val.json' in '.*vall'"):
        check_coco_file(tiny_coco / 'annotations' / 'instances_val.json', tiny_coco / 'vall')
    check_coco_file(tiny_coco / 'annotations' / 'instances_val.json', tiny_coco / 'val')


def test_the_train_tool_reports_them_before_building(tiny_coco, tmp_path):
    """One subprocess, for the script's exit status and stderr; the rest in-process."""
    from mmdet_cgd.cli.train import main
    (tmp_path / 'notcoco.json').write_text('[]')
    proc = python('tools/train.py', DEMO_CONFIG, '--work-dir', tmp_path, '--cfg-options',
                  f'train_dataloader.dataset.data_root={tiny_coco}/',
                  f'train_dataloader.dataset.ann_file={tmp_path}/notcoco.json', check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
    assert "notcoco.json' is not a COCO json: expected a JSON object" in proc.stderr
    # the demo's ResNet-18 with CGD, switched to mmdet's stock ResNet
    message = tool_exit(main, [DEMO_CONFIG, '--work-dir', tmp_path, '--cfg-options',
                               'model.backbone.type=ResNet'])
    assert "ResNet-18 (BasicBlock) takes no plugins; use type='CGDResNet'" in message


def test_dataloader_check_follows_dataset_wrappers(tiny_coco, tmp_path):
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(
            type='CocoDataset', data_root=str(tiny_coco), ann_file='annotations/missing.json',
            data_prefix=dict(img='train/'))))))
    with pytest.raises(ValueError, match='annotation file not found'):
        check_dataloader_data(cfg)
    concat = Config(dict(test_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(type='CocoDataset', data_root=str(tiny_coco), metainfo=dict(classes=CLASSES),
             ann_file='annotations/instances_val.json', data_prefix=dict(img='val/')),
        dict(type='CocoDataset', ann_file=str(tmp_path / 'other.json'))]))))
    with pytest.raises(ValueError, match="other.json'$"):
        check_dataloader_data(concat, ['test_dataloader'])


@pytest.mark.parametrize('kind', ['ResNet', 'CGDResNet'])
def test_a_plugin_given_in_channels_is_told_its_block_sets_them(kind):
    plugin = dict(cfg=dict(type='CGD', in_channels=32), position='after_conv1')
    if kind == 'CGDResNet':
        plugin['position'] = 'before_norm1'
    with pytest.raises(ValueError, match=r'plugins\[0\]: a plugin gets in_channels from its '
                       r'block; remove cfg.in_channels=32'):
        check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[plugin])))


def test_a_misspelt_cgd_option_names_the_valid_ones():
    misspelt = dict(cfg=dict(type='CGD', identiy_init=True), position='before_norm1')
    with pytest.raises(ValueError, match=r"model.backbone.plugins\[0\].cfg: CGD has no option "
                       r"'identiy_init' \(did you mean 'identity_init'\?\); its options: "
                       r"(backend, )?identity_init, inplace \(in_channels comes from the block\)"):
        check_backbone_plugins(model_with(dict(type='CGDResNet', depth=50, plugins=[misspelt])))
    on_stock = dict(cfg=dict(type='mmengine.CGD', inplace=False, identity_init=True, ratio=4),
                    position='after_conv3')
    with pytest.raises(ValueError, match=r"CGD has no option 'ratio'; its options"):
        check_backbone_plugins(model_with(dict(type='ResNet', depth=50, plugins=[on_stock])))


def test_a_misspelt_plugin_type_is_named_with_the_nearest_registered_one():
    """mmcv: "KeyError: 'Cannot find None in registry under scope name mmdet'"."""
    for kind, name in (('ResNet', 'CGd'), ('CGDResNeXt', 'CGd'), ('ResNet', 'mmdet.CGD')):
        misspelt = dict(cfg=dict(type=name), position='after_conv3')
        with pytest.raises(ValueError, match=rf"plugins\[0\].cfg: no plugin layer type '{name}' "
                                             r"is registered; did you mean 'CGD'\?"):
            check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[misspelt])))


def test_other_plugin_layers_are_checked_against_their_own_signature():
    context = dict(cfg=dict(type='ContextBlock', ratio=1. / 16), position='after_conv3')
    check_backbone_plugins(model_with(dict(type='ResNet', depth=50, plugins=[context])))
    without_ratio = dict(cfg=dict(type='ContextBlock'), position='after_conv3')
    with pytest.raises(ValueError, match=r'ContextBlock needs ratio'):
        check_backbone_plugins(model_with(dict(type='ResNet', depth=50, plugins=[without_ratio])))


def test_the_train_tool_ends_plugin_mistakes_in_one_line(tmp_path):
    """In-process: ``main`` exits with the message, as the script does."""
    from mmdet_cgd.cli.train import main
    for option, expected in (('model.backbone.plugins.0.cfg.identiy_init=True',
                              "CGD has no option 'identiy_init'"),
                             ('model.backbone.plugins.0.cfg.type=CGd',
                              "no plugin layer type 'CGd' is registered; did you mean 'CGD'?")):
        assert expected in tool_exit(main, [DEMO_CONFIG, '--work-dir', tmp_path,
                                            '--skip-data-check', '--cfg-options', option])


def edited_val_file(tiny_coco, tmp_path, edit) -> str:
    coco = json.loads((tiny_coco / 'annotations' / 'instances_val.json').read_text())
    edit(coco)
    path = tmp_path / 'edited_val.json'
    path.write_text(json.dumps(coco))  # json writes NaN and Infinity, as pycocotools reads them
    return str(path)


def tool_exit(main, argv) -> str:
    """The message ``main`` exits with (in-process: what the script prints)."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    assert isinstance(exit_.value.code, str) and exit_.value.code.startswith('error: ')
    return exit_.value.code


def test_nan_weights_end_the_train_tool_in_one_line(tiny_coco, tmp_path):
    """Raised by FiniteTrainingHook inside ``runner.train()``: a finite first loss, then NaN
    weights (gradients clipped to a NaN norm, which torch lets through): the checkpoint of
    iteration 1 is refused."""
    from tool_helpers import tiny_run_options

    from mmdet_cgd.cli.train import main
    options = tiny_run_options(tiny_coco, max_iters=1, ckpt_interval=1)
    message = tool_exit(main, [DEMO_CONFIG, '--work-dir', tmp_path, *options,
                               'optim_wrapper.clip_grad.max_norm=nan'])
    assert message.startswith('error: refused to save the checkpoint of iteration 1')
    assert 'tensors hold NaN or infinity' in message


def test_the_test_tool_ends_a_file_of_other_categories_in_one_line(tiny_coco, tmp_path):
    """Testing filters nothing: mmdet would evaluate on images without a single box."""
    import torch
    from mmengine.registry import MODELS, DefaultScope
    from tool_helpers import tiny_run_options

    from mmdet_cgd.cli.test import main
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'model.pth')

    def rename_categories(coco):
        for category in coco['categories']:
            category['name'] = category['name'].upper()

    val = edited_val_file(tiny_coco, tmp_path, rename_categories)
    message = tool_exit(main, [DEMO_CONFIG, tmp_path / 'model.pth', '--work-dir', tmp_path,
                               *tiny_run_options(tiny_coco),
                               f'test_dataloader.dataset.ann_file={val}'])
    assert "edited_val.json': none of the dataset's 5 classes ('disk', 'square'," in message
    assert 'is a category of the file, so mmdet loads none of its boxes' in message


def train_tool_exit_on(tiny_coco, tmp_path, edit, *options) -> str:
    """The train tool's one line on the demo config whose train annotations ``edit`` changed."""
    from tool_helpers import tiny_run_options

    from mmdet_cgd.cli.train import main
    coco = json.loads((tiny_coco / 'annotations' / 'instances_train.json').read_text())
    text = edit(coco) or json.dumps(coco)
    (tmp_path / 'edited_train.json').write_text(text)
    return tool_exit(main, [DEMO_CONFIG, '--work-dir', tmp_path, *tiny_run_options(tiny_coco),
                            f'train_dataloader.dataset.ann_file={tmp_path}/edited_train.json',
                            *options])


def test_a_file_with_no_boxes_ends_in_one_line(tiny_coco, tmp_path):
    """#31 case 4: mmengine's "need at least one array to concatenate", 573 lines, before."""
    def no_boxes(coco):
        coco['annotations'] = []

    message = train_tool_exit_on(tiny_coco, tmp_path, no_boxes)
    assert "edited_train.json': every image was filtered out (filter_cfg filter_empty_gt): " \
           "none has a box of its metainfo classes ('disk', 'square', 'triangle', 'star', " \
           "'cross')" in message
    assert '\n' not in message


def test_a_truncated_file_or_one_without_coco_keys_ends_in_one_line(tiny_coco, tmp_path):
    message = train_tool_exit_on(tiny_coco, tmp_path, lambda coco: json.dumps(coco)[:500])
    assert "edited_train.json': not a COCO json: it does not parse as JSON (" in message
    message = train_tool_exit_on(tiny_coco, tmp_path, lambda coco: json.dumps(
        dict(imgs=coco['images'], anns=coco['annotations'])))
    assert "edited_train.json': not a COCO json: expected the keys ['images', 'annotations', " \
           "'categories'], got no 'categories'" in message


def test_a_dataset_without_metainfo_names_its_classes(tiny_coco, tmp_path):
    """Training: every image filtered out; testing: mmdet loads the images without a box."""
    from mmengine.registry import init_default_scope

    from mmdet_cgd.cli.coco_checks import check_loaded_categories
    message = train_tool_exit_on(tiny_coco, tmp_path, lambda coco: None,
                                 'train_dataloader.dataset.metainfo=None')
    assert "every image was filtered out (filter_cfg filter_empty_gt): none has a box of the " \
           "80 classes of CocoDataset ('person', 'bicycle'," in message
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    dataset = CocoDataset(data_root=str(tiny_coco), ann_file='annotations/instances_val.json',
                          data_prefix=dict(img='val/'), metainfo=dict(classes=('cat', )),
                          pipeline=[], test_mode=True)
    with pytest.raises(ValueError, match=r"instances_val.json': none of the dataset's 1 "
                                         r"classes \('cat',\) is a category of the file"):
        check_loaded_categories(dataset)


STOCK_R50 = dict(type='ResNet', depth=50)


@pytest.mark.parametrize('kind', ['ResNet', 'CGDResNet'])
def test_a_misspelt_key_of_the_plugin_dict_is_named(kind):
    """#31 case 1: mmdet ignores keys it does not read (``stage``: CGD in every stage)."""
    position = 'after_conv1' if kind == 'ResNet' else 'before_norm1'
    stage = dict(cfg=dict(type='CGD'), stage=(False, True, True, True), position=position)
    with pytest.raises(ValueError, match=r"plugins\[0\] \(\w+\): a plugin has no key 'stage' "
                                         r"\(did you mean 'stages'\?\); its keys: cfg, position"):
        check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[stage])))
    postion = dict(cfg=dict(type='CGD'), postion=position)
    with pytest.raises(ValueError, match=r"no key 'postion' \(did you mean 'position'\?\)"):
        check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[postion])))


@pytest.mark.parametrize('flag,value', [('identity_init', 'no'), ('inplace', 'False'),
                                        ('inplace', 1)])
def test_cgd_flags_must_be_booleans(flag, value):
    """#31 case 2: 'no' and 'False' are true strings."""
    import numpy as np
    for kind, position in (('ResNet', 'after_conv1'), ('CGDResNet', 'before_norm1')):
        plugin = dict(cfg=dict(type='CGD', **{flag: value}), position=position)
        with pytest.raises(ValueError, match=rf"plugins\[0\] \({kind}\).cfg: CGD's {flag} must "
                                             rf"be True or False, got {value!r}"):
            check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[plugin])))
        plugin['cfg'][flag] = np.bool_(False)
        check_backbone_plugins(model_with(dict(type=kind, depth=50, plugins=[plugin])))


def test_wrong_length_stages_on_a_stock_resnet():
    """#31 case 3: mmdet's own assert, 491 lines, before."""
    plugin = dict(cfg=dict(type='CGD'), position='after_conv1', stages=(True, True))
    with pytest.raises(ValueError, match=r"plugins\[0\] \(ResNet\): stages must give one bool "
                                         r"per stage \(4\), got \(True, True\)"):
        check_backbone_plugins(model_with(dict(STOCK_R50, plugins=[plugin])))
    plugin['stages'] = (True, True, False)
    check_backbone_plugins(model_with(dict(STOCK_R50, num_stages=3, plugins=[plugin])))


def test_plugins_given_as_one_dict():
    with pytest.raises(ValueError, match=r"model.backbone.plugins must be a list of plugin "
                                         r"dicts, got a dict: write plugins=\[dict\(...\)\]"):
        check_backbone_plugins(model_with(dict(STOCK_R50, plugins=CGD)))


def test_the_train_tool_ends_off_road_plugin_configs_in_one_line(tmp_path):
    """#31 cases 1, 2, 3, 5 and 10 through the tool: one ``error:`` line each."""
    from mmdet_cgd.cli.train import main
    stock = ['model.backbone.type=ResNet', 'model.backbone.depth=50',
             'model.backbone.plugins.0.position=after_conv1']
    for options, expected in (
            (['model.backbone.plugins.0.stage=[False,True,True,True]'], "no key 'stage'"),
            (['model.backbone.plugins.0.cfg.identity_init=no'],
             "CGD's identity_init must be True or False, got 'no'"),
            ([*stock, 'model.backbone.plugins.0.stages=[True,True]'],
             'stages must give one bool per stage (4)'),
            (['model.backbone.type=CSPNeXt'], 'CSPNeXt takes no plugins')):
        message = tool_exit(main, [DEMO_CONFIG, '--work-dir', tmp_path, '--skip-data-check',
                                   '--cfg-options', *options])
        assert expected in message, message
    one_dict = tmp_path / 'one_dict.py'
    one_dict.write_text(f'_base_ = {str(DEMO_CONFIG)!r}\nmodel = dict(backbone=dict(plugins=dict('
                        "_delete_=True, cfg=dict(type='CGD'), position='before_norm1')))\n")
    message = tool_exit(main, [one_dict, '--work-dir', tmp_path, '--skip-data-check'])
    assert 'plugins must be a list of plugin dicts, got a ConfigDict' in message, message
