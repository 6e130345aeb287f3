from .demo import data_root_options, metrics_table, read_test_metrics, run_tool
from .load_detector import load_detector

__all__ = ['data_root_options', 'load_detector', 'metrics_table', 'read_test_metrics', 'run_tool']
