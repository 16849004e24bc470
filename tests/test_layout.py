"""The house rules of the package, checked (docs/architecture.md): import-linter's layer contracts
(pyproject.toml), ruff clean, no private name imported from another module, short functions."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "pixelforest"
#: the longest a function may be, in lines, outside compiled kernels and argument parsers
MAX_FUNCTION_LINES = 60


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def test_layers_contracts_hold():
    res = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_ruff_is_clean():
    res = subprocess.run([_tool("ruff"), "check", "--no-cache", "src", "tests", "scripts"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield path, ".".join(parts), ast.parse(path.read_text(), str(path))


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def test_no_private_name_is_imported_from_another_module():
    """``from .x import _name`` reaches into another module's insides: a name another module needs is
    public (and documented) or the code lives where it is used. Importing a private *module* of
    one's own package (``from ._kernels import filters``) is fine: import-linter checks those."""
    found = []
    for path, module, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _absolute(module, path.name == "__init__.py", node)
                if not target.startswith("pixelforest") or target == module:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__") \
                            and f"{target}.{alias.name}" not in {m for _, m, _ in _modules()}:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name} from {target}")
    assert not found, "\n".join(found)


def _is_kernel(node) -> bool:
    """A numba-compiled function (``@njit``, ``@jit(...)``, ``@intrinsic``...)."""
    for d in node.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        name = d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", "")
        if name in {"njit", "jit", "intrinsic", "generated_jit", "_jit", "kernel"}:
            return True
    return False


def test_functions_are_short():
    long = []
    for path, _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_kernel(node):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and node.name != "build_parser":
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} ({n} lines)")
    assert not long, "\n".join(long)
