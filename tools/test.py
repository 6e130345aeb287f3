"""Evaluate a checkpoint: mmdet's tools/test.py command line, plus CPU (gloo) distributed runs.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] [--show-dir DIR]
                                          [--cfg-options k=v ...] [--launcher ...]
                                          [--trust-checkpoint]
"""
from mmdet_cgd.cli.test import main

if __name__ == '__main__':
    main()
