"""docs/architecture.md stays true: one row per package folder, and its picture's arrows are
exactly the imports between the package's folders."""
import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / 'mmdet_cgd'
DOC = (REPO / 'docs' / 'architecture.md').read_text()


def package_folders():
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob('*')
            if p.is_dir() and p.name != '__pycache__' and not p.name.startswith('.')
            and not p.name.endswith('.egg-info')}


def documented_folders():
    return set(re.findall(r'^\| `([\w/]+)/` \|', DOC, re.M))


def top_folder(module: str) -> str:
    """'mmdet_cgd.models.layers.cgd' -> 'models'; '' for the package itself or a top module."""
    parts = module.split('.')
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) \
        else ''


def imported_modules(path: Path):
    """The ``mmdet_cgd`` modules a file imports, relative imports resolved."""
    package = ('mmdet_cgd.' + '.'.join(path.relative_to(PACKAGE).parent.parts)).rstrip('.')
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith('mmdet_cgd'))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                yield '.'.join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith('mmdet_cgd'):
                yield node.module


def import_edges():
    edges = set()
    for path in PACKAGE.rglob('*.py'):
        source = top_folder('mmdet_cgd.' + '.'.join(path.relative_to(PACKAGE).with_suffix('')
                                                        .parts))
        for module in imported_modules(path):
            target = top_folder(module)
            if source and target and source != target:
                edges.add((source, target))
    return edges


def test_every_package_folder_has_one_row_and_every_row_a_folder():
    assert documented_folders() == package_folders()


def test_the_pictures_arrows_are_the_imports_between_folders():
    drawn = set(re.findall(r'^    (\w+) --> (\w+)$', DOC, re.M))
    assert drawn == import_edges()


def test_each_rows_imports_column_names_what_its_folder_imports():
    rows = dict(re.findall(r'^\| `(\w+)/` \| [^|]+ \| ([^|]*) \|$', DOC, re.M))
    for source, target in import_edges():
        assert f'`{target}`' in rows[source], (source, target)
    for source, column in rows.items():
        for target in re.findall(r'`(\w+)`', column):
            assert (source, target) in import_edges(), (source, target)


def test_imports_run_one_way():
    edges = import_edges()
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reaches(start, goal, seen=()):
        return any(n == goal or (n not in seen and reaches(n, goal, seen + (n, )))
                   for n in graph.get(start, ()))

    assert not [(a, b) for a, b in edges if reaches(b, a)], 'an import cycle between folders'
