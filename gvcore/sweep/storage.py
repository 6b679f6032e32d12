"""Where sweep directories live: a local (or shared, e.g. NFS) path, or a storage URI (s3://,
gs://, file://...) written through pyarrow.fs, the layer Ray Tune itself uses. Small files
(leaderboards, sweep.json) are read and written here, local ones through gv's atomic writer."""

from __future__ import annotations

import os
from pathlib import Path

from .. import rundir
from ..errors import GVError


def is_uri(location: str | os.PathLike) -> bool:
    return "://" in str(location)


def join(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}" if is_uri(root) else str(Path(root) / name)


def _remote(directory: str | os.PathLike, name: str):
    import pyarrow.fs

    fs, base = pyarrow.fs.FileSystem.from_uri(str(directory))
    return fs, f"{base.rstrip('/')}/{name}" if name else base.rstrip("/")


def exists(directory: str | os.PathLike, name: str = "") -> bool:
    if is_uri(directory):
        import pyarrow.fs

        fs, path = _remote(directory, name)
        return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound
    return (Path(directory) / name).exists()


def write_text(directory: str | os.PathLike, name: str, text: str) -> str:
    """Write a file into a sweep directory, local (atomically) or on a storage URI."""
    if is_uri(directory):
        fs, path = _remote(directory, name)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)  # needed on file://, a no-op on object stores
        with fs.open_output_stream(path) as out:
            out.write(text.encode())
        return join(str(directory), name)
    return str(rundir.write_text(Path(directory) / name, text))


def read_text(directory: str | os.PathLike, name: str) -> str | None:
    """A file of a sweep directory, or None when it isn't there."""
    if is_uri(directory):
        if not exists(directory, name):
            return None
        fs, path = _remote(directory, name)
        with fs.open_input_stream(path) as stream:
            data = stream.read()
    else:
        path = Path(directory) / name
        if not path.is_file():
            return None
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GVError(f"'{path}' is unreadable ({exc.strerror or exc}): check its permissions") from None
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise GVError(f"'{join(str(directory), name)}' is not text: it is damaged or not gv's") from None
