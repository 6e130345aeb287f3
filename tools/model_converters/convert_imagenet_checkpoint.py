"""Convert a CGD authors' ImageNet checkpoint (ResNet or MobileNet v1) into a backbone checkpoint
for CGDResNet or CGDMobileNet: with CGD in every block, or the plain network (the baseline
configs' backbone) when the file holds no CGD weights.

    python tools/model_converters/convert_imagenet_checkpoint.py SRC.pth \
        checkpoints/cgd-resnet50_imagenet.pth
    python tools/model_converters/convert_imagenet_checkpoint.py model_best.pth.tar \
        checkpoints/cgd-mobilenet_imagenet.pth
"""
import argparse
import sys

from mmdet_cgd.checkpoint.convert_imagenet import convert_checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="the authors' classification checkpoint")
    parser.add_argument('dst', help='where to write the backbone checkpoint')
    parser.add_argument('--force', action='store_true', help='overwrite an existing DST')
    parser.add_argument('--skip-unknown', action='store_true',
                        help='drop keys outside the known format instead of failing')
    args = parser.parse_args(argv)
    try:
        report = convert_checkpoint(args.src, args.dst, force=args.force,
                                    skip_unknown=args.skip_unknown)
    except (ValueError, FileExistsError, RuntimeError) as e:
        sys.exit(f'error: {e}')
    print(f"wrote {args.dst}: {report['arch']}, {report['converted']} tensors "
          f"({report['cgd']} CGD); dropped classifier keys {report['dropped']}")
    if report['unknown']:
        print(f"skipped {len(report['unknown'])} unknown keys: {report['unknown']}")


if __name__ == '__main__':
    main()
