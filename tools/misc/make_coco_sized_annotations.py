"""Write a COCO-train-sized annotation file (118,287 images, ~828k boxes, ~300 MB) for timing
what reads annotation files at that scale (the data checks, mmdet's loading):

    python tools/misc/make_coco_sized_annotations.py OUT.json [--image-dir DIR]
"""
import argparse
import os
import time

from mmdet_cgd.testing import COCO_TRAIN_IMAGES, write_coco_sized_annotations


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='the json to write')
    parser.add_argument('--num-images', type=int, default=COCO_TRAIN_IMAGES)
    parser.add_argument('--boxes-per-image', type=float, default=7.0)
    parser.add_argument('--image-dir', help='also write an empty file per image here')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    images, anns = write_coco_sized_annotations(args.out, args.num_images, args.boxes_per_image,
                                                args.image_dir, args.seed)
    print(f'wrote {images} images, {anns} annotations, {os.path.getsize(args.out) / 1e6:.0f} MB '
          f'to {args.out} in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
