"""Train a detector: mmdet's tools/train.py command line, plus CPU (gloo) distributed runs.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
                                 [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
                                 [--trust-checkpoint]
"""
from mmdet_cgd.cli.train import main

if __name__ == '__main__':
    main()
