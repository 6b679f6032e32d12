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
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in _python_files()
        if _outside_ray_package(path)
        for line, name, _ in _imports(path)
        if name == "ray" or name.startswith("ray.")
    ]
    assert offenders == []


def test_gvcore_tune_is_imported_inside_functions_only():
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {name} at module level"
        for path in _python_files()
        if _outside_ray_package(path)
        for line, name, top in _imports(path)
        if top and (name == "gvcore.tune" or name.startswith("gvcore.tune."))
    ]
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
    long = {
        str(path.relative_to(REPO)): n
        for path in (REPO / "gvcore").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MODULE_LINES
    }
    assert long == {}, f"split these into modules with one job each: {long}"


# --- import circles -------------------------------------------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def import_graph(root: Path, package: str = "gvcore") -> dict[str, set[str]]:
    """module -> the package's modules it imports: module level, inside functions and under
    TYPE_CHECKING alike (a circle hidden in a function is still a circle). ``from pkg import mod``
    points at the module; a package's ``__init__`` counts where it is imported from outside it
    (importing a submodule runs its package first), never from inside (it is already running)."""
    files = {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        own_package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))}
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name in files}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = own_package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
                if files.get(base, Path()).name == "__init__.py":
                    targets.add(base)
        graph[name] = {t for t in targets if t in files and t != name and t not in ancestors}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_in_gvcore():
    graph = import_graph(REPO)
    assert len(graph) > 60 and "gvcore.sweep.leaderboard" in graph["gvcore.tune.driver"]  # the parser sees edges
    listed = {tuple(group): {m: sorted(graph[m] & set(group)) for m in group} for group in circles(graph)}
    assert listed == {}, f"import circles (module -> the members it imports): {listed}"


def test_the_circle_check_finds_circles_through_functions_and_type_checking(tmp_path):
    package = tmp_path / "pkg"
    (package / "formats").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "registry.py").write_text("from .formats.png import load\n")
    (package / "formats" / "__init__.py").write_text("")
    (package / "formats" / "png.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..registry import Spec\n"
    )
    (package / "a.py").write_text("def f():\n    from . import b\n")
    (package / "b.py").write_text("from .a import f\n")
    found = circles(import_graph(tmp_path, "pkg"))
    assert found == [["pkg.a", "pkg.b"], ["pkg.formats.png", "pkg.registry"]]
