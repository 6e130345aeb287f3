"""Parsing many shipped configs in one test process."""
from typing import Dict, Iterable

from mmengine.config import Config


def parse_configs(paths: Iterable) -> Dict[str, Config]:
    """``{path: Config.fromfile(path)}``, the model indexes read once per session (conftest's
    ``model_index_read_once``: 7 s for all our configs instead of 30)."""
    return {path: Config.fromfile(str(path)) for path in paths}
