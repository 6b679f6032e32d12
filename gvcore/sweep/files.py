"""Finding sweep files: shipped names (`gv sweep quick-mnist`) or paths, read as safe YAML."""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

import yaml

from ..errors import GVError
from .schema import parse_sweep
from .spec import SweepSpec


class SweepLoader(yaml.SafeLoader):
    """Safe YAML that reads 2.0e13, 2e13 and 1e-3 as numbers, as YAML 1.2 does (PyYAML's YAML 1.1
    wants a dot and a signed exponent, so `budget: {flops: 2.0e13}` would be a string)."""


SweepLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def shipped_sweep_dirs() -> list[Path]:
    """Where the shipped sweep files live: the repository's `sweeps/` (a clone or an editable
    install), else `share/gv/sweeps` under the install prefix (a wheel install, via data-files)."""
    candidates = [Path(__file__).resolve().parents[2] / "sweeps"]
    for prefix in (sysconfig.get_path("data"), sys.prefix):
        candidates.append(Path(prefix) / "share" / "gv" / "sweeps")
    return [d for d in dict.fromkeys(candidates) if d.is_dir()]


def shipped_sweeps() -> dict[str, Path]:
    """Shipped sweep name -> file, the first directory winning."""
    found: dict[str, Path] = {}
    for directory in shipped_sweep_dirs():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def find_sweep_file(ref: str) -> Path:
    """A sweep given as a shipped name (`quick-mnist`) or a path to a YAML file."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    looks_like_path = path.suffix in (".yaml", ".yml") or "/" in ref or "\\" in ref
    if looks_like_path:
        raise GVError(
            f"sweep file '{ref}' does not exist: pass a readable .yaml file or a shipped sweep name (see `gv sweeps`)"
        )
    shipped = shipped_sweeps()
    if ref in shipped:
        return shipped[ref]
    names = ", ".join(shipped) or "none found"
    raise GVError(f"unknown sweep '{ref}': shipped sweeps are {names}; or pass a path to a .yaml file")


def load_sweep(ref: str) -> SweepSpec:
    """Find, read and validate a sweep by shipped name or path."""
    return parse_sweep(*read_sweep_document(ref))


def read_sweep_document(ref: str) -> tuple[Any, str]:
    """A sweep file's YAML document (not yet validated) and the name its messages use; `gv study`
    reads its own `study:` section from it."""
    path = find_sweep_file(ref)
    source = str(path) if not _is_shipped(path) else f"sweeps/{path.name}"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GVError(f"{source}: unreadable sweep file ({type(exc).__name__}: {exc})") from None
    try:
        doc = yaml.load(text, Loader=SweepLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise GVError(f"{source}: {where}: unreadable YAML ({problem})") from None
    if doc is None:
        raise GVError(f"{source}: (top level): the file is empty; see `gv sweeps` for examples")
    return doc, source


def _is_shipped(path: Path) -> bool:
    return any(path.resolve().parent == d.resolve() for d in shipped_sweep_dirs())
