"""Which part of a checkpoint is meant for a module, and the error when it does not fit."""
import pytest
import torch

from mmdet_cgd.checkpoint import (
    CheckpointMismatchError,
    check_fit,
    select_weights,
    unwrap_state_dict,
)

MODEL = {'conv1.weight': torch.zeros(4, 3), 'layer1.0.cgd.w0': torch.zeros(4, 1),
         'bn1.num_batches_tracked': torch.zeros(())}


def test_wrappers_and_the_dataparallel_prefix_are_undone():
    tensors = {'module.conv1.weight': torch.ones(4, 3)}
    for ckpt in (tensors, dict(state_dict=tensors), dict(model=tensors, epoch=3)):
        assert list(unwrap_state_dict(ckpt)) == ['conv1.weight']


def test_non_tensor_entries_are_an_error():
    with pytest.raises(CheckpointMismatchError, match=r"non-tensor entries \['epoch'\]"):
        unwrap_state_dict({'conv1.weight': torch.ones(1), 'epoch': 3})


def test_a_classifier_or_detector_checkpoint_gives_its_backbone_part():
    """mmpretrain classifiers: backbone., head. and data_preprocessor keys."""
    state = {'backbone.conv1.weight': torch.ones(4, 3), 'head.fc.weight': torch.ones(2, 4),
             'data_preprocessor.mean': torch.ones(3)}
    assert list(select_weights(state, MODEL)) == ['conv1.weight']
    assert list(select_weights({'conv1.weight': torch.ones(4, 3)}, MODEL)) == ['conv1.weight']
    assert list(select_weights(state, MODEL, prefix='head.')) == ['fc.weight']
    with pytest.raises(CheckpointMismatchError, match="no key starts with prefix 'neck.'"):
        select_weights(state, MODEL, prefix='neck.')


def test_an_exact_fit_passes_and_counters_may_be_missing():
    check_fit(MODEL, {'conv1.weight': torch.ones(4, 3), 'layer1.0.cgd.w0': torch.ones(4, 1)})


def test_missing_cgd_weights_are_an_error_with_advice_unless_declared_new():
    plain_resnet = {'conv1.weight': torch.ones(4, 3), 'fc.weight': torch.ones(2, 4)}
    with pytest.raises(CheckpointMismatchError) as error:
        check_fit(MODEL, plain_resnet, source='weights.pth')
    message = str(error.value)
    assert "1 missing: ['layer1.0.cgd.w0']" in message
    assert "1 unexpected: ['fc.weight']" in message
    assert 'cgd-identity config' in message and "new_keys=['.cgd.']" in message
    check_fit(MODEL, plain_resnet, new_keys=['.cgd.'], unused_keys=['fc.'])


def test_shape_mismatches_are_listed():
    state = {'conv1.weight': torch.ones(8, 3), 'layer1.0.cgd.w0': torch.ones(4, 1)}
    with pytest.raises(CheckpointMismatchError,
                       match=r'conv1.weight: checkpoint \(8, 3\), model \(4, 3\)'):
        check_fit(MODEL, state)


def test_the_plain_resnet_advice_is_not_given_when_shapes_also_differ():
    """Missing CGD keys beside misshapen tensors: another architecture, not a plain ResNet, so
    declaring CGD new would not help."""
    other_width = {'conv1.weight': torch.ones(8, 3)}
    with pytest.raises(CheckpointMismatchError) as error:
        check_fit(MODEL, other_width)
    assert 'shape mismatches' in str(error.value) and 'cgd-identity' not in str(error.value)


def test_a_plain_mobilenet_or_a_classifier_gets_advice_that_fits_it():
    mobilenet = {'layers.0.conv1.weight': torch.zeros(4, 1), 'layers.0.cgd.w0': torch.zeros(4, 1)}
    plain = {'layers.0.conv1.weight': torch.ones(4, 1), 'linear.weight': torch.ones(2, 4)}
    with pytest.raises(CheckpointMismatchError) as error:
        check_fit(mobilenet, plain, source='mobilenet.pth', path='mobilenet.pth')
    message = str(error.value)
    assert "a plain MobileNet?): declare them new with new_keys=['.cgd.']" in message
    assert 'plain ResNet' not in message and 'use a *-cgd-identity' not in message
    assert "its ['linear.'] keys are an ImageNet classifier's: convert it with python " \
           'tools/model_converters/convert_imagenet_checkpoint.py mobilenet.pth DST.pth ' \
           "(which drops them), or declare them unused_keys=['linear.']" in message


def test_the_authors_resnet_layout_is_told_to_convert():
    authors = {'conv1.weight': torch.ones(4, 3), 'layer1.0.attention.w0': torch.ones(4, 1),
               'fc.weight': torch.ones(2, 4)}
    with pytest.raises(CheckpointMismatchError) as error:
        check_fit(MODEL, authors, source='resnet.pth', path='resnet.pth')
    assert "it is a CGD authors' ImageNet checkpoint (CGD under <block>.attention.): convert it " \
           'once with python tools/model_converters/convert_imagenet_checkpoint.py resnet.pth ' \
           'DST.pth and give DST.pth instead' in str(error.value)
    assert 'plain ResNet' not in str(error.value)
