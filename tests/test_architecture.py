"""docs/architecture.md stays true: one row per package folder, and its picture's arrows are
exactly the imports between the package's folders; and no module of the package imports,
directly or through others, a module that imports it back."""
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


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """'mmdet_cgd/ops/__init__.py' -> 'mmdet_cgd.ops'; '.../ops/cgd.py' -> 'mmdet_cgd.ops.cgd'."""
    parts = path.relative_to(root.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def package_modules(root: Path = PACKAGE) -> dict:
    return {module_name(p, root): p for p in root.rglob('*.py')}


MODULES = package_modules()
# the repository's Python packages: ours, and those under tools/ and .dev_scripts/
PACKAGES = [PACKAGE, *sorted(p.parent for folder in ('tools', '.dev_scripts')
                             for p in (REPO / folder).rglob('__init__.py')
                             if not (p.parent.parent / '__init__.py').is_file())]


def imported_modules(path: Path, root: Path = PACKAGE):
    """The modules of package ``root`` that a file of it imports (at its top or inside
    functions), relative imports resolved; ``from package import submodule`` names the
    submodule."""
    top, modules = root.name, package_modules(root)
    package = '.'.join((top, *path.relative_to(root).parent.parts))
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split('.')[0] == top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                module = '.'.join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split('.')[0] == top:
                module = node.module
            else:
                continue
            submodules = [f'{module}.{a.name}' for a in node.names
                          if f'{module}.{a.name}' in modules]
            yield from submodules or [module]


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


def module_cycle(root: Path = PACKAGE):
    """One import cycle between the modules of package ``root``, as a list of module names, or
    None."""
    modules = package_modules(root)
    graph = {name: {m for m in imported_modules(path, root) if m in modules and m != name}
             for name, path in modules.items()}
    done, stack = set(), []

    def visit(name):
        if name in stack:
            return stack[stack.index(name):] + [name]
        if name in done:
            return None
        stack.append(name)
        for target in sorted(graph[name]):
            cycle = visit(target)
            if cycle:
                return cycle
        stack.pop()
        done.add(name)
        return None

    return next((c for c in map(visit, sorted(graph)) if c), None)


def test_no_two_modules_import_each_other():
    """In each Python package of the repository; also through other modules, a package's
    ``__init__`` and imports inside functions (a lazy import that only dodges a circle is still
    one)."""
    assert len(PACKAGES) > 1, PACKAGES  # ours and the cost study's at least
    for root in PACKAGES:
        cycle = module_cycle(root)
        assert cycle is None, ' -> '.join(cycle)
