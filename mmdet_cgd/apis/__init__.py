"""Entry points: the train and test commands (``tools/train.py``, ``tools/test.py``) as
functions, and loading a detector with its weights checked."""
from .inference import load_detector
from .test import main as test_main
from .test import read_test_metrics
from .train import main as train_main

__all__ = ['load_detector', 'read_test_metrics', 'test_main', 'train_main']
