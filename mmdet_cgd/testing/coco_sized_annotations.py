"""An annotation file the size of COCO train2017 (118,287 images, ~828k polygon boxes, ~300 MB),
to time and size what reads annotation files at that scale. Streamed out: the generator never
holds the file in memory. Its key order is COCO's own, ``categories`` last."""
import json
import random
from pathlib import Path
from typing import Optional, Tuple

COCO_TRAIN_IMAGES = 118287
IMAGE_SIZES = ((640, 480), (640, 427), (480, 640), (500, 375), (640, 426))


def _annotation(rng: random.Random, ann_id: int, image_id: int, width: int, height: int) -> dict:
    """One box inside its image with a 6-20 point polygon inside the box."""
    w, h = rng.uniform(4, width / 2), rng.uniform(4, height / 2)
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    polygon = [round(v, 2) for _ in range(rng.randint(6, 20))
               for v in (x + rng.uniform(0, w), y + rng.uniform(0, h))]
    return dict(segmentation=[polygon], area=round(w * h * 0.6, 2), iscrowd=0, image_id=image_id,
                bbox=[round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                category_id=rng.randint(1, 80), id=ann_id)


def write_coco_sized_annotations(path, num_images: int = COCO_TRAIN_IMAGES,
                                 boxes_per_image: float = 7.0, image_dir: Optional[Path] = None,
                                 seed: int = 0) -> Tuple[int, int]:
    """Write the json to ``path`` (and an empty file per image into ``image_dir``, if given, for
    checks that stat them); return (images, annotations)."""
    rng = random.Random(seed)
    sizes = [rng.choice(IMAGE_SIZES) for _ in range(num_images)]
    num_anns = 0
    with open(path, 'w') as f:
        f.write('{"info": {"description": "COCO-train-sized random annotations"}, '
                '"licenses": [], "images": [')
        f.write(', '.join(json.dumps(dict(file_name=f'{i:012d}.jpg', height=h, width=w, id=i))
                          for i, (w, h) in enumerate(sizes, 1)))
        f.write('], "annotations": [')
        for image_id, (w, h) in enumerate(sizes, 1):
            count = int(boxes_per_image) + (rng.random() < boxes_per_image % 1)
            for _ in range(count):
                num_anns += 1
                f.write((', ' if num_anns > 1 else '')
                        + json.dumps(_annotation(rng, num_anns, image_id, w, h)))
        categories = [dict(id=i, name=f'class_{i}', supercategory='thing') for i in range(1, 81)]
        f.write('], "categories": ' + json.dumps(categories) + '}')
    if image_dir is not None:
        Path(image_dir).mkdir(parents=True, exist_ok=True)
        for i in range(1, num_images + 1):
            (Path(image_dir) / f'{i:012d}.jpg').touch()
    return num_images, num_anns
