"""Write the embedded synthetic COCO dataset.

    python tools/misc/make_synthetic_coco.py data/synthetic
"""
import argparse
import time

from mmdet_cgd.testing import SyntheticSpec, write_dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('root', help='output folder')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--image-size', type=int, default=256)
    parser.add_argument('--max-objects', type=int, default=6)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    common = dict(image_size=args.image_size, max_objects=args.max_objects)
    start = time.perf_counter()
    root = write_dataset(args.root, SyntheticSpec(args.num_train, seed=args.seed, **common),
                         SyntheticSpec(args.num_val, seed=args.seed + 1, **common))
    print(f'wrote {args.num_train} train + {args.num_val} val images to {root} '
          f'in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
