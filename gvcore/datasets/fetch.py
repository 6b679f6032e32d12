"""Getting a dataset onto disk: the local copy if there is one, else one download (unless offline)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path

from ..errors import GVError

DOWNLOAD_TIMEOUT_S = 20  # an unreachable mirror must not hang the command


def offline() -> bool:
    return os.environ.get("GV_OFFLINE", "") not in ("", "0")


def describe(exc: BaseException) -> str:
    """An exception as a short phrase for a one-line message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def ensure_local(name: str, root: Path, expected: Path, download: Callable[[], object]) -> None:
    """Make sure ``expected`` -- the folder a download leaves under ``root`` -- exists.

    An existing folder is used as it is, never downloaded over: the loader then checks its files
    and names any damaged one. Otherwise ``download`` runs once, unless GV_OFFLINE is set; a failed
    download leaves no new empty folders behind and is a GVError.
    """
    if expected.exists():
        return
    if offline():
        reason = "GV_OFFLINE is set"
    else:
        # The folders that exist now: a failed download removes the empty ones it made, root included.
        first_missing = None if root.is_dir() else next(p for p in (root, *root.parents) if p.parent.exists())
        existed = {p for p in root.rglob("*") if p.is_dir()} if first_missing is None else set()
        old_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            download()
        except Exception as exc:  # network errors come in many types
            reason = f"download failed: {type(exc).__name__}: {describe(exc)}"
            for path in sorted((p for p in root.rglob("*") if p.is_dir() and p not in existed), reverse=True):
                with contextlib.suppress(OSError):
                    path.rmdir()  # only empty ones go
            if first_missing is not None:
                for path in (root, *root.parents):
                    with contextlib.suppress(OSError):
                        path.rmdir()
                    if path == first_missing:
                        break
        else:
            if expected.exists():
                return
            reason = f"the download did not create {expected}"
        finally:
            socket.setdefaulttimeout(old_timeout)
    raise GVError(
        f"dataset '{name}' is not in {root} (no {expected.name} there) and could not be downloaded ({reason}); "
        f"connect to the internet once, copy it there, point --data-dir / GV_DATA_DIR at a copy, "
        f"or use --dataset mnist-5k (no download needed)"
    )
