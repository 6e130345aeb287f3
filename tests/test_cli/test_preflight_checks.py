"""Mistakes in configs and datasets are errors that say what was expected, given, and where."""
import json

import pytest
from mmengine.config import Config
from tool_helpers import DEMO_CONFIG, python

from mmdet_cgd.annotation_checks import check_coco_file, check_dataloader_data
from mmdet_cgd.cli.plugin_checks import check_backbone_plugins
from mmdet_cgd.testing import CLASSES

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
                                             rf"CGDMobileNetV2, and mmdet's ResNet, .*ResNeSt at"):
            check_backbone_plugins(model_with(dict(type=kind, plugins=[paper])))
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


def test_missing_image_and_box_outside_its_image(tiny_coco, tmp_path):
    """Caught by AnnotationCheckHook over what mmdet loaded, before the first iteration."""
    import mmdet_cgd.engine.hooks  # noqa: F401  (registers AnnotationCheckHook)
    coco = json.loads((tiny_coco / 'annotations' / 'instances_val.json').read_text())
    coco['images'][0]['file_name'] = 'gone.png'
    ann = coco['annotations'][-1]
    ann['bbox'] = [100, 100, 60, 10]
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(coco))
    runner = demo_runner(tiny_coco, tmp_path, custom_hooks=[dict(type='AnnotationCheckHook')],
                         val_dataloader=dict(dataset=dict(ann_file=str(path))))
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert "bad.json' (images in" in msg and 'missing file' in msg and 'gone.png' in msg
    assert f"image {ann['image_id']}: bbox [100, 100, 60, 10] outside its 128x128 image" in msg
    assert runner.iter == 0


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


def demo_runner(data_root, work_dir, **overrides):
    """The CPU demo's Runner on ``data_root``, single-process loading, with ``overrides``."""
    from mmengine.config import DictAction
    from mmengine.runner import Runner
    from tool_helpers import FAST_LOADING, data_root_options
    cfg = Config.fromfile(DEMO_CONFIG)
    options = (o.split('=', 1) for o in (*data_root_options(data_root), *FAST_LOADING))
    cfg.merge_from_dict({k: DictAction._parse_iterable(v) for k, v in options})
    cfg.merge_from_dict(overrides)
    cfg.work_dir = str(work_dir)
    return Runner.from_cfg(cfg)


def val_datasets(tiny_coco, tmp_path):
    """(clean, with a missing image file) CocoDatasets of the tiny val split."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    coco = json.loads((tiny_coco / 'annotations' / 'instances_val.json').read_text())
    coco['images'][-1]['file_name'] = 'gone.png'
    (tmp_path / 'bad.json').write_text(json.dumps(coco))
    return [CocoDataset(data_root=str(tiny_coco), ann_file=ann, data_prefix=dict(img='val/'),
                        metainfo=dict(classes=CLASSES), pipeline=[])
            for ann in ('annotations/instances_val.json', str(tmp_path / 'bad.json'))]


def test_hook_checks_each_dataset_once_and_test_data_before_testing(tiny_coco, tmp_path,
                                                                    monkeypatch):
    from types import SimpleNamespace

    from mmdet_cgd.engine.hooks import AnnotationCheckHook, annotation_check_hook
    good, bad = val_datasets(tiny_coco, tmp_path)
    checked = []
    check = annotation_check_hook.check_loaded_annotations
    monkeypatch.setattr(annotation_check_hook, 'check_loaded_annotations',
                        lambda ds, *a: checked.append(ds) or check(ds, *a))
    loaders = dict(train_dataloader=SimpleNamespace(dataset=good),
                   val_dataloader=SimpleNamespace(dataset=good), val_loop=object(),
                   test_dataloader=SimpleNamespace(dataset=bad))
    runner = SimpleNamespace(**loaders)
    hook = AnnotationCheckHook()
    hook.before_train(runner)
    hook.before_val(runner)  # validation repeats during training: checked once, before it
    assert checked == [good]
    with pytest.raises(ValueError, match="bad.json' .*missing file .*gone.png"):
        hook.before_test(runner)
    with pytest.raises(ValueError, match='image_sample must be a positive int, got 0'):
        AnnotationCheckHook(image_sample=0)


def check_on_rank(rank, port, datasets, results):
    """One process of a 2-process gloo job running the hook's check; reports what it raised."""
    import torch.distributed as dist

    from mmdet_cgd.engine.hooks import AnnotationCheckHook
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    try:
        AnnotationCheckHook().check_datasets([datasets[rank]])
        results.put((rank, None))
    except ValueError as e:
        results.put((rank, str(e)))
    finally:
        dist.destroy_process_group()


def test_rank_0_checks_and_every_rank_raises_its_error(tiny_coco, tmp_path):
    import multiprocessing

    from tool_helpers import free_port

    class Untouchable:
        """Rank 1's dataset: checking it on rank 1 would fail differently."""

        def __getattr__(self, name):
            if name in ('dataset', 'datasets'):  # not a wrapper
                raise AttributeError(name)
            raise RuntimeError(f'rank 1 read its dataset ({name})')

    _, bad = val_datasets(tiny_coco, tmp_path)
    ctx = multiprocessing.get_context('fork')
    results, port = ctx.Queue(), free_port()
    procs = [ctx.Process(target=check_on_rank, args=(r, port, [bad, Untouchable()], results))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    errors = dict(results.get(timeout=5) for _ in procs)
    assert errors[0] is not None and 'missing file' in errors[0] and 'gone.png' in errors[0]
    assert errors[1] == errors[0]


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


def set_width(value):
    def edit(coco):
        coco['annotations'][0]['bbox'][2] = value
    return edit


def test_a_non_finite_box_and_nan_weights_end_the_train_tool_in_one_line(tiny_coco, tmp_path):
    """Raised by our hooks inside ``runner.train()``: AnnotationCheckHook, FiniteTrainingHook."""
    from tool_helpers import tiny_run_options

    from mmdet_cgd.cli.train import main
    options = tiny_run_options(tiny_coco, max_iters=1, ckpt_interval=1)
    val = edited_val_file(tiny_coco, tmp_path, set_width(float('nan')))  # mmdet drops it silently
    message = tool_exit(main, [DEMO_CONFIG, '--work-dir', tmp_path, *options,
                               f'val_dataloader.dataset.ann_file={val}'])
    assert 'edited_val.json' in message and 'is not finite (mmdet drops it silently)' in message
    # a finite first loss, then NaN weights (gradients clipped to a NaN norm, which torch lets
    # through): the checkpoint of iteration 1 is refused
    message = tool_exit(main, [DEMO_CONFIG, '--work-dir', tmp_path, *options,
                               'optim_wrapper.clip_grad.max_norm=nan'])
    assert message.startswith('error: refused to save the checkpoint of iteration 1')
    assert 'tensors hold NaN or infinity' in message


def test_the_test_tool_ends_an_annotation_error_in_one_line(tiny_coco, tmp_path):
    import torch
    from mmengine.registry import MODELS, DefaultScope
    from tool_helpers import tiny_run_options

    from mmdet_cgd.cli.test import main
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'model.pth')
    val = edited_val_file(tiny_coco, tmp_path, set_width(float('nan')))
    message = tool_exit(main, [DEMO_CONFIG, tmp_path / 'model.pth', '--work-dir', tmp_path,
                               *tiny_run_options(tiny_coco),
                               f'test_dataloader.dataset.ann_file={val}'])
    assert 'edited_val.json' in message and 'is not finite (mmdet drops it silently)' in message


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

    from mmdet_cgd.annotation_checks import check_loaded_annotations
    message = train_tool_exit_on(tiny_coco, tmp_path, lambda coco: None,
                                 'train_dataloader.dataset.metainfo=None')
    assert "every image was filtered out (filter_cfg filter_empty_gt): none has a box of the " \
           "80 classes of CocoDataset ('person', 'bicycle'," in message
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    dataset = CocoDataset(data_root=str(tiny_coco), ann_file='annotations/instances_val.json',
                          data_prefix=dict(img='val/'), metainfo=dict(classes=('cat', )),
                          pipeline=[], test_mode=True)
    with pytest.raises(ValueError, match=r"instances_val.json' .*: none of the dataset's 1 "
                                         r"classes \('cat',\) is a category of the file"):
        check_loaded_annotations(dataset)


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
