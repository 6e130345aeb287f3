"""Importing the package registers modules (and adds its types to torch's safe-load list) and
does nothing else: no global matplotlib backend, no environment read at import, no op loaded."""
import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(REPO / 'mmdet_cgd').rglob('*.py'), *(REPO / 'tools').rglob('*.py'),
                  *(REPO / 'demo').rglob('*.py')])


def module_level_nodes(tree: ast.Module):
    """Every node that runs at import: outside function bodies (class bodies run too)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(node.decorator_list if hasattr(node, 'decorator_list') else [])
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def import_time_effects(path: Path, root: Path = REPO):
    found = []
    for node in module_level_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ('environ', 'getenv', 'putenv') \
                and isinstance(node.value, ast.Name) and node.value.id == 'os':
            found.append(f'{path.relative_to(root)}:{node.lineno} os.{node.attr}')
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == 'use' and isinstance(node.func.value, ast.Name) \
                and node.func.value.id == 'matplotlib':
            found.append(f'{path.relative_to(root)}:{node.lineno} matplotlib.use')
    return found


def test_no_module_reads_the_environment_or_selects_a_backend_at_import():
    assert SOURCES
    assert [effect for path in SOURCES for effect in import_time_effects(path)] == []


def test_the_scan_finds_both_kinds_of_effect_and_spares_function_bodies(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('import os\nimport matplotlib\nmatplotlib.use("Agg")\nT = os.environ["X"]\n'
                   'def fine():\n    return os.environ.get("Y")\n')
    assert sorted(import_time_effects(bad, tmp_path)) == ['bad.py:3 matplotlib.use',
                                                          'bad.py:4 os.environ']


def test_importing_every_module_changes_no_environment_backend_or_op():
    script = '''
import importlib, os, pkgutil
import matplotlib
import cv2, mmdet.models, mmengine.runner, torch  # the stack first: cv2 edits LD_LIBRARY_PATH
backend, env = matplotlib.rcParams["backend"], dict(os.environ)
libraries = set(torch.ops.loaded_libraries)
import mmdet_cgd
names = [m.name for m in pkgutil.walk_packages(mmdet_cgd.__path__, "mmdet_cgd.")]
for name in names:
    importlib.import_module(name)
assert set(torch.ops.loaded_libraries) == libraries, "a library was loaded"
assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())
assert matplotlib.rcParams["backend"] == backend, matplotlib.rcParams["backend"]
print(len(names))
'''
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) >= 30  # every module, not an empty walk
