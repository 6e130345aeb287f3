"""One check in its own process: ``python -m gpu_check.worker MODULE:FUNCTION RESULT KWARGS``.

A crash, a hung kernel or a CUDA error then ends that step alone, and each tier's process imports
the mmcv its tier built. The result file holds the function's dict, or the error.
"""
import importlib
import json
import sys
import traceback

from .record import Skip


def main(target: str, result_path: str, kwargs: str) -> int:
    module, function = target.split(':')
    try:
        fn = getattr(importlib.import_module(f'gpu_check.{module}'), function)
        result = dict(status='passed', details=fn(**json.loads(kwargs)))
    except Skip as skip:
        result = dict(status='skipped', reason=str(skip))
    except BaseException as error:  # noqa: B036 (the record must say why, whatever it was)
        traceback.print_exc()
        lines = str(error).strip().splitlines() or ['']
        result = dict(status='failed', reason=f'{type(error).__name__}: {lines[0]}'[:500])
    with open(result_path, 'w') as f:
        json.dump(result, f, default=str)
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:4]))
