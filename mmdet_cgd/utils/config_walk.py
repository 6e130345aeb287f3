"""Every dict inside a config, with the dotted path that ``--cfg-options`` would use for it."""
from typing import Iterator, Tuple


def config_dicts(cfg, where: str = 'model') -> Iterator[Tuple[str, dict]]:
    """``(path, dict)`` for ``cfg`` and each dict nested in it, through dicts, lists and tuples."""
    if isinstance(cfg, dict):
        yield where, cfg
        for key, value in cfg.items():
            yield from config_dicts(value, f'{where}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            yield from config_dicts(value, f'{where}[{i}]')
