"""Layering rules that hold for every module, read from the source with `ast` (nothing is imported).

Ray is imported by gvcore/tune/ only: everything else (the trainer, the CLI, reports) must work, and
start quickly, without it. The CLI reaches gvcore/tune/ from inside the command that needs it, so
that `gv --help` and every other command never pay for importing Ray.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RAY_PACKAGE = REPO / "gvcore" / "tune"


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, absolute module name, at module level) for every import in a file, nested ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this file's package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, name, id(node) in top_level) for name in names]
    return found


def _python_files() -> list[Path]:
    files = sorted(REPO.glob("gvcore/**/*.py")) + sorted(REPO.glob("bench/*.py")) + [REPO / "cli.py"]
    assert len(files) > 20 and RAY_PACKAGE / "driver.py" in files  # the glob found the tree
    return files


def _outside_ray_package(path: Path) -> bool:
    return RAY_PACKAGE not in path.parents


def test_ray_is_imported_in_gvcore_tune_only():
    offenders = [f"{path.relative_to(REPO)}:{line} imports {name}"
                 for path in _python_files() if _outside_ray_package(path)
                 for line, name, _ in _imports(path) if name == "ray" or name.startswith("ray.")]
    assert offenders == []


def test_gvcore_tune_is_imported_inside_functions_only():
    offenders = [f"{path.relative_to(REPO)}:{line} imports {name} at module level"
                 for path in _python_files() if _outside_ray_package(path)
                 for line, name, top in _imports(path) if top and (name == "gvcore.tune" or name.startswith("gvcore.tune."))]
    assert offenders == []


def test_the_checks_see_nested_and_relative_imports():
    # The rules above pass on an empty list: make sure the parser finds what they look for.
    module = REPO / "gvcore" / "commands" / "sweep.py"
    names = {(name, top) for _, name, top in _imports(module)}
    assert ("gvcore.tune", False) in names  # `from ..tune import ...` inside sweep_cmd
    assert ("gvcore.errors", True) in names
    found = {(name, top) for _, name, top in _imports(RAY_PACKAGE / "driver.py")}
    assert ("ray", True) in found and ("gvcore.tune.live", True) in found


# A module past ~400 lines is usually two jobs (DEVELOPING.md); 450 is the hard line.
MODULE_LINES = 450


def test_no_gvcore_module_is_over_the_line_limit():
    long = {str(path.relative_to(REPO)): n for path in (REPO / "gvcore").rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MODULE_LINES}
    assert long == {}, f"split these into modules with one job each: {long}"
