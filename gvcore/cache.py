"""Where gv keeps what it computes once and reuses: ``$GV_CACHE_DIR``, else ``$XDG_CACHE_HOME/gv``
or ``~/.cache/gv``.

Below it: ``evaluators/`` (the evaluator networks and reference statistics, gvcore/evaluation),
``datasets/`` (decoded image folders, gvcore/datasets/folder.py) and ``remote/`` (node-local copies
of ``s3://`` / ``gs://`` datasets). Apart from both users so that the dataset readers don't import
the evaluation package (which imports them).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """gv's cache root: the argument, else $GV_CACHE_DIR, else $XDG_CACHE_HOME/gv or ~/.cache/gv."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("GV_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gv"
