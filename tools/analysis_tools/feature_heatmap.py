"""Feature-map heatmaps of one layer for one or more detectors on the same images.

    python tools/analysis_tools/feature_heatmap.py --model baseline CFG CKPT --model CGD CFG CKPT \
        --image-dir data/synthetic/val --num-images 4 --out heatmap.png
"""
import argparse
from pathlib import Path

import cv2

import mmdet_cgd  # noqa: F401
from mmdet_cgd.apis import load_detector
from mmdet_cgd.cli.common import exit_on_user_error
from mmdet_cgd.visualization import DEFAULT_LAYER, heatmap_grid, save_image

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def read_images(paths):
    images = []
    for path in paths:
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(f'cannot read an image from {str(path)!r}')
        images.append(image)
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('NAME', 'CONFIG', 'CHECKPOINT'), help='one row of the grid')
    parser.add_argument('--images', nargs='+', help='image files')
    parser.add_argument('--image-dir', help='take the first --num-images images of this folder')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--layer', default=DEFAULT_LAYER, help='module name whose output to show')
    parser.add_argument('--no-relu', action='store_true', help='show the raw output, no ReLU')
    parser.add_argument('--tile', type=int, default=256, help='cell size in pixels')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', default='heatmap.png')
    args = parser.parse_args()

    paths = args.images
    if not paths:
        if not args.image_dir:
            parser.error('give --images or --image-dir')
        if not Path(args.image_dir).is_dir():
            parser.error(f'--image-dir: expected a folder of images, not found: {args.image_dir!r}')
        paths = sorted(p for p in Path(args.image_dir).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)[:args.num_images]
        if not paths:
            parser.error(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {args.image_dir!r}')
    with exit_on_user_error():
        models = {name: load_detector(cfg, ckpt, args.device) for name, cfg, ckpt in args.model}
        grid = heatmap_grid(models, read_images(paths), args.layer, not args.no_relu, args.tile)
    save_image(args.out, grid)
    print(f'wrote {args.out}: {len(models) + 1} rows x {len(paths)} images, layer {args.layer}')


if __name__ == '__main__':
    main()
