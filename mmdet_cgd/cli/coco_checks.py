"""A config's COCO annotation files: checked before the Runner without reading them (mmdet parses
each once), and one line for a file mmdet cannot use once it has loaded it: not JSON, no COCO
keys, every image filtered out, none of the dataset's classes among the file's categories. What
mmdet itself drops (degenerate boxes, categories outside the classes) is mmdet's business."""
import json
from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple

from mmdet_cgd.utils.errors import AnnotationError

SHOWN = 8  # class names listed in a message
# what mmengine's BaseDataset raises (in _serialize_data) when no image is left to load
NOTHING_LEFT = 'need at least one array to concatenate'
COCO_KEYS = ('images', 'annotations', 'categories')


def dataset_classes(dataset: dict) -> Tuple[Optional[Sequence[str]], str]:
    """The classes a dataset config loads (its ``metainfo``'s, else its class's: COCO's 80 for
    ``CocoDataset``) and where they come from, in words."""
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is not None:
        return classes, 'its metainfo classes'
    from mmdet.registry import DATASETS
    kind = DATASETS.get(dataset.get('type')) if isinstance(dataset.get('type'), str) else None
    classes = getattr(kind, 'METAINFO', {}).get('classes')
    return classes, f"the {len(classes or ())} classes of {getattr(kind, '__name__', '')}"


def shown(items) -> str:
    """A tuple's text, the first ``SHOWN`` items and '...' for the rest."""
    text = str(tuple(items)[:SHOWN])
    return text[:-1] + ', ...)' if len(items) > SHOWN else text


def check_coco_file(ann_file, image_dir=None) -> None:
    """Raise ``ValueError`` unless ``ann_file`` is a file that starts as a JSON object and
    ``image_dir`` (when given) is a folder."""
    ann_file = Path(ann_file)
    if not ann_file.is_file():
        raise ValueError(f'annotation file not found: expected a COCO json at {str(ann_file)!r}')
    with open(ann_file, 'rb') as f:
        start = f.read(64).lstrip()
    if not start.startswith(b'{'):
        raise ValueError(f"{str(ann_file)!r} is not a COCO json: expected a JSON object ('{{' "
                         f'first), got {start[:12]!r}')
    if image_dir is not None and not Path(image_dir).is_dir():
        raise ValueError(f'image folder not found: expected the images of {str(ann_file)!r} in '
                         f'{str(image_dir)!r}')


def coco_dataset_cfgs(dataset) -> Iterator[dict]:
    """The Coco* dataset configs inside ``dataset``, through Repeat/Concat/... wrappers."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('datasets'), (list, tuple)):
        for inner in dataset['datasets']:
            yield from coco_dataset_cfgs(inner)
    elif isinstance(dataset.get('dataset'), dict):
        yield from coco_dataset_cfgs(dataset['dataset'])
    elif 'Coco' in str(dataset.get('type', '')):
        yield dataset


def ann_file_path(dataset: dict) -> Path:
    return Path(dataset.get('data_root') or '') / dataset['ann_file']


def check_dataloader_data(cfg, dataloaders: Sequence[str] = ('train_dataloader',
                                                               'val_dataloader')) -> None:
    """Run ``check_coco_file`` on the Coco datasets of these dataloaders of ``cfg`` (cheap: every
    rank of a job checks)."""
    for name in dataloaders:
        for dataset in coco_dataset_cfgs((cfg.get(name) or {}).get('dataset')):
            prefix = (dataset.get('data_prefix') or {}).get('img', '')
            check_coco_file(ann_file_path(dataset),
                            Path(dataset.get('data_root') or '') / prefix)


def check_loaded_categories(dataset) -> None:
    """Raise ``AnnotationError`` when a loaded COCO dataset found none of its classes among the
    file's categories: mmdet would train or evaluate on images without a single box."""
    if hasattr(dataset, 'cat_ids') and not dataset.cat_ids:
        classes = dataset.metainfo.get('classes') or ()
        raise AnnotationError(
            f"{dataset.ann_file!r}: none of the dataset's {len(classes)} classes "
            f'{shown(classes)} is a category of the file, so mmdet loads none of its boxes: give '
            "the dataset metainfo=dict(classes=...) with the file's category names (and the head "
            'their number as num_classes)')


def load_failure(error: Exception, dataset) -> Optional[AnnotationError]:
    """The one-line error for what building the ``dataset`` config raised when it is the
    annotations' fault: a file that is not JSON or lacks COCO's keys, or every image filtered
    out; else None."""
    cfgs = list(coco_dataset_cfgs(dataset))
    files = ', '.join(repr(str(ann_file_path(d))) for d in cfgs)
    if isinstance(error, json.JSONDecodeError):
        return AnnotationError(f'{files}: not a COCO json: it does not parse as JSON ({error})')
    if isinstance(error, KeyError) and error.args and error.args[0] in COCO_KEYS:
        return AnnotationError(f'{files}: not a COCO json: expected the keys {list(COCO_KEYS)}, '
                               f'got no {error.args[0]!r}')
    if cfgs and NOTHING_LEFT in str(error):
        classes, source = dataset_classes(cfgs[0])
        return AnnotationError(
            f'{files}: every image was filtered out (filter_cfg filter_empty_gt): none has a '
            f'box of {source} {shown(classes or ())} (or it lists no image); if the file names its '
            'categories '
            "otherwise, give the dataset metainfo=dict(classes=...) with the file's names")
    return None
