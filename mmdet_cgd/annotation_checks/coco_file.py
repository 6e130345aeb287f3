"""The pre-flight check of a config's COCO annotation files: cheap, parse-free, once per job.

It runs before the Runner, on the launcher's rank 0 only, and reads each annotation file once
as raw bytes for its top-level keys (``json_keys``): well under what mmdet's own loading costs.
What needs the parsed annotations (boxes inside their images, image files present) is checked
after mmdet has loaded them, by ``AnnotationCheckHook``.
"""
import os
from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple

from mmengine.dist import get_rank, is_distributed

from mmdet_cgd.annotation_checks.json_keys import (
    JsonStructureError,
    TopLevel,
    top_level,
    top_level_value,
)

REQUIRED_KEYS = ('images', 'annotations', 'categories')
SHOWN = 8  # class names listed in a message
# the global rank each launcher gives a process before any process group exists
RANK_VARIABLES = {'pytorch': 'RANK', 'slurm': 'SLURM_PROCID', 'mpi': 'OMPI_COMM_WORLD_RANK'}


def launcher_rank(launcher: str = 'none') -> int:
    """This process's global rank: from the process group once there is one, else from the
    variable ``launcher`` sets (torchrun's ``RANK``, ...); 0 for ``'none'``."""
    if is_distributed():
        return get_rank()
    variable = RANK_VARIABLES.get(launcher)
    return int(os.environ.get(variable, 0)) if variable else 0


def dataset_classes(dataset: dict) -> Tuple[Optional[Sequence[str]], str]:
    """The classes a dataset config will load (its ``metainfo``'s, else its class's default,
    COCO's 80 for ``CocoDataset``), and where they come from; None if unknown here."""
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is not None:
        return classes, 'its metainfo classes'
    from mmdet.registry import DATASETS
    try:
        kind = DATASETS.get(dataset.get('type'))
    except Exception:  # a type this process cannot import: mmdet will say so
        kind = None
    classes = getattr(kind, 'METAINFO', {}).get('classes')
    return classes, f"the {len(classes or ())} classes of {getattr(kind, '__name__', '')}"


def check_categories(ann_file, found: TopLevel, classes: Sequence[str], source: str) -> None:
    """Raise ``ValueError`` when no category of the file is among ``classes``: mmdet would drop
    every box and, for training, every image (mmengine: "need at least one array to
    concatenate")."""
    categories = top_level_value(ann_file, 'categories', found)
    names = [c.get('name') for c in categories or [] if isinstance(c, dict)]
    if not names or set(names) & set(classes):
        return
    raise ValueError(
        f'{str(ann_file)!r}: none of its categories {_shown(names)} is among {source} '
        f'{_shown(list(classes))}, so mmdet would load no box; give the dataset '
        f'metainfo=dict(classes={_shown(names) if len(names) <= SHOWN else "(...)"}) (and the '
        f'head num_classes={len(names)})')


def _shown(items: list) -> str:
    """A tuple's text, the first ``SHOWN`` items and '...' for the rest."""
    text = str(tuple(items[:SHOWN]))
    return text[:-1] + ', ...)' if len(items) > SHOWN else text


def check_coco_file(ann_file, image_dir=None, dataset: Optional[dict] = None) -> None:
    """Raise ``ValueError`` unless ``ann_file`` is a JSON object with COCO's top-level keys,
    ``image_dir`` (when given) is a folder and (with the ``dataset`` config) some category of
    the file is among the classes it loads. Boxes and image files are ``AnnotationCheckHook``'s."""
    ann_file = Path(ann_file)
    if not ann_file.is_file():
        raise ValueError(f'annotation file not found: expected a COCO json at {str(ann_file)!r}')
    try:
        found = top_level(ann_file)
    except JsonStructureError as e:
        raise ValueError(f'{str(ann_file)!r} is not a COCO json: it does not parse as JSON '
                         f'({e})') from None
    missing = [k for k in REQUIRED_KEYS if k not in found.keys]
    if found.kind != 'object' or missing:
        given = sorted(found.keys) if found.kind == 'object' else 'a JSON array'
        raise ValueError(f'{str(ann_file)!r} is not a COCO json: expected the keys '
                         f'{list(REQUIRED_KEYS)}, got {given}')
    if image_dir is not None and not Path(image_dir).is_dir():
        raise ValueError(f'image folder not found: expected the images of {str(ann_file)!r} in '
                         f'{str(image_dir)!r}')
    if dataset is not None:
        classes, source = dataset_classes(dataset)
        if isinstance(classes, (list, tuple)):
            check_categories(ann_file, found, classes, source)


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


def check_dataloader_data(cfg, dataloaders: Sequence[str] = ('train_dataloader',
                                                               'val_dataloader')) -> None:
    """Run ``check_coco_file`` on the Coco datasets of these dataloaders of ``cfg``, on the
    job's rank 0 only (``cfg.launcher`` says where to read the rank)."""
    if launcher_rank(cfg.get('launcher', 'none')) != 0:
        return
    for name in dataloaders:
        for dataset in coco_dataset_cfgs((cfg.get(name) or {}).get('dataset')):
            root = Path(dataset.get('data_root') or '')
            prefix = (dataset.get('data_prefix') or {}).get('img', '')
            check_coco_file(root / dataset['ann_file'], root / prefix, dataset)
