"""Checks of COCO-format annotation files before training or testing on them."""
import json
from pathlib import Path

from mmdet_cgd.datasets.synthetic_coco import validate_coco

REQUIRED_KEYS = ('images', 'annotations', 'categories')


def check_coco_file(ann_file, image_dir) -> None:
    """Raise ``ValueError`` if ``ann_file`` is not a COCO json whose boxes fit their images and
    whose images exist under ``image_dir``."""
    ann_file = Path(ann_file)
    if not ann_file.is_file():
        raise ValueError(f'annotation file not found: expected a COCO json at {str(ann_file)!r}')
    try:
        coco = json.loads(ann_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'{str(ann_file)!r} is not a COCO json: it does not parse as JSON '
                         f'({e})') from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(coco, dict) or k not in coco]
    if missing:
        given = sorted(coco) if isinstance(coco, dict) else type(coco).__name__
        raise ValueError(f'{str(ann_file)!r} is not a COCO json: expected the keys '
                         f'{list(REQUIRED_KEYS)}, got {given}')
    try:
        # 1 px of slack for float boxes; masks may be RLE or absent (detection-only data)
        validate_coco(coco, Path(image_dir), box_tolerance=1.0, check_masks=False)
    except ValueError as e:
        raise ValueError(f'{str(ann_file)!r} (images in {str(image_dir)!r}): {e}') from None


def check_dataloader_data(cfg, dataloaders=('train_dataloader', 'val_dataloader')) -> None:
    """Run ``check_coco_file`` on the Coco datasets of these dataloaders of ``cfg``."""
    for name in dataloaders:
        dataset = (cfg.get(name) or {}).get('dataset')
        while isinstance(dataset, dict) and 'dataset' in dataset:  # wrappers
            dataset = dataset['dataset']
        if not isinstance(dataset, dict) or 'Coco' not in str(dataset.get('type', '')):
            continue
        root = Path(dataset.get('data_root') or '')
        prefix = (dataset.get('data_prefix') or {}).get('img', '')
        check_coco_file(root / dataset['ann_file'], root / prefix)
