"""Walking configs: every dict inside one, with the dotted path ``--cfg-options`` would use for
it, a cfg ``type`` as its bare class name, and a misspelt key named with the nearest valid one."""
import difflib
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


def type_name(kind) -> str:
    """A cfg ``type`` (a name, a scoped name such as 'mmdet.ResNet', or the class) as its bare
    class name: 'ResNet'."""
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))
    return name.split('.')[-1]


def with_nearest(unknown, known) -> str:
    """Unknown names, each with the nearest known one: "'postion' (did you mean 'position'?)"."""
    hints = []
    for name in unknown:
        near = difflib.get_close_matches(str(name), known, n=1)
        hints.append(f'{name!r} (did you mean {near[0]!r}?)' if near else repr(name))
    return ', '.join(hints)
