"""A CGD backbone's plugin placement, recorded in the state dict's metadata and compared when
weights load: the one check that also runs under mmdet's ``init_detector`` (which runs none of
our code but the model's). ``before_norm1`` and ``after_conv1`` give CGD the same keys and
shapes, so nothing else there tells a checkpoint of another placement apart.

``state_dict()`` (and mmengine's ``get_state_dict``) hand each module's metadata to its state-dict
hooks; loading hands it back to its load pre-hooks. A mismatch is appended to the load's
errors (torch's ``load_state_dict`` raises; mmengine's non-strict load logs it) and warned."""
import warnings

from mmdet_cgd.checkpoint.placement import describe, placement

METADATA_KEY = 'cgd_plugins'


def record_and_check_placement(backbone) -> None:
    """Record ``backbone.plugins`` in its state dicts and compare the record when weights load."""
    backbone._register_state_dict_hook(record_placement)
    backbone._register_load_state_dict_pre_hook(check_recorded_placement, with_module=True)


def record_placement(backbone, state_dict, prefix, local_metadata) -> None:
    """A state-dict hook: the backbone's plugins, as ``checkpoint.placement`` compares them."""
    local_metadata[METADATA_KEY] = placement(backbone.plugins)


def check_recorded_placement(backbone, state_dict, prefix: str, local_metadata: dict, *args
                             ) -> None:
    """A load pre-hook (``args`` end in the load's ``error_msgs``)."""
    recorded = local_metadata.get(METADATA_KEY)
    ours = placement(backbone.plugins)
    if not recorded or list(recorded) == ours:  # none recorded, or a plain network given on purpose
        return
    message = (f'{prefix[:-1] or type(backbone).__name__}: these weights were trained with '
               f'backbone plugins {describe(list(recorded))}, but the model has {describe(ours)}: '
               'they fit by name and shape, yet would compute something else')
    warnings.warn(message, stacklevel=2)
    args[-1].append(message)
