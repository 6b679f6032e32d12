"""A dataset folder behind a storage URI (``s3://``, ``gs://``, ``file://``, ...): copied once per
machine into gv's cache, then read like any folder.

Through pyarrow.fs, the layer gv's sweep storage and Ray Tune use, so the same credentials work.
Only image files are copied (see folder_scan.IMAGE_SUFFIXES), each through gv's atomic writer
with the remote modification time, under a file lock (parallel trials on one node copy once). A
``.gv-copied.json`` marker written last holds the remote listing's key: while the listing is
unchanged the copy is used as it is; a changed listing copies what changed and drops what is gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from ..cache import cache_root
from ..errors import GVError
from ..rundir import atomic_path, write_json
from .fetch import describe
from .folder_scan import is_image_name

MARKER = ".gv-copied.json"
CHUNK = 1 << 20


def is_uri(name: str) -> bool:
    return "://" in name


def _filesystem(uri: str):
    import pyarrow.fs

    try:
        return pyarrow.fs.FileSystem.from_uri(uri)
    except Exception as exc:  # unknown scheme, bad bucket name, missing credentials
        raise GVError(
            f"dataset {uri} can't be opened ({describe(exc)}): check the URI and this machine's access"
        ) from None


def _listing(uri: str) -> tuple[object, str, list[tuple[str, int, int]]]:
    """(filesystem, base path, [(relative name, size, mtime_ns)]) of the images under the URI."""
    import pyarrow.fs

    fs, base = _filesystem(uri)
    base = base.rstrip("/")
    try:
        infos = fs.get_file_info(pyarrow.fs.FileSelector(base, recursive=True))
    except FileNotFoundError:
        raise GVError(f"dataset {uri} does not exist: check the URI") from None
    except Exception as exc:
        raise GVError(
            f"dataset {uri} can't be listed ({describe(exc)}): check the URI and this machine's access"
        ) from None
    files = []
    for info in infos:
        relative = info.path[len(base) :].lstrip("/")
        hidden = any(part.startswith(".") for part in relative.split("/"))
        if info.type == pyarrow.fs.FileType.File and not hidden and is_image_name(info.base_name):
            files.append((relative, int(info.size or 0), int(info.mtime_ns or 0)))
    if not files:
        raise GVError(f"dataset {uri} holds no images: gv reads PNG, JPEG, BMP, WebP, GIF and TIFF files")
    return fs, base, sorted(files)


def local_copy(uri: str) -> Path:
    """This machine's copy of the images under ``uri`` (made or brought up to date now)."""
    from filelock import FileLock

    fs, base, files = _listing(uri)
    key = hashlib.sha256(json.dumps(files).encode()).hexdigest()
    folder = cache_root() / "remote" / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:24]
    if _marker_key(folder) == key:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder.parent / f"{folder.name}.lock"))
    except OSError as exc:
        raise GVError(
            f"dataset {uri}: can't write its local copy under {folder} ({describe(exc)}); set GV_CACHE_DIR to a "
            "writable folder"
        ) from None
    with lock:
        if _marker_key(folder) != key:
            _copy(uri, fs, base, files, folder)
            write_json(folder / MARKER, {"uri": uri, "key": key, "files": len(files)})
    return folder


def _marker_key(folder: Path) -> str | None:
    try:
        return json.loads((folder / MARKER).read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None


def _copy(uri: str, fs, base: str, files: list[tuple[str, int, int]], folder: Path) -> None:
    wanted = {name for name, _, _ in files}
    for path in sorted(folder.rglob("*"), reverse=True):  # what the remote no longer holds
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name != MARKER and name not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for name, size, mtime_ns in files:
        target = folder / name
        with contextlib.suppress(OSError):
            here = target.stat()
            if here.st_size == size and here.st_mtime_ns == mtime_ns:
                continue
        try:
            with fs.open_input_stream(f"{base}/{name}") as source, atomic_path(target) as tmp:
                with tmp.open("wb") as out:
                    while chunk := source.read(CHUNK):
                        out.write(chunk)
                # The remote time, so the copy's content key (names, sizes, times) is the same on every node.
                os.utime(tmp, ns=(mtime_ns, mtime_ns))
        except GVError:
            raise
        except Exception as exc:
            raise GVError(f"dataset {uri}: copying {name} failed ({describe(exc)}); run again") from None
