"""The run directory, and how gv writes files: one atomic writer, one ``metrics.jsonl`` reader.

A run directory (`gv train`, or a sweep trial's ``run/`` folder) -- described here and only here::

    config.json               {"config" (resolved), "family", "dataset", "parameters", "budget": {kind,
                              amount, flops_per_step, total_steps (null for seconds)}, "versions", "created"}
    metrics.jsonl             {"step", "epoch", "time", "images_per_s", "loss/..."} every train.log_every
                              steps; {"step", "time", "eval/..."} at every eval interval
    samples/step-NNNNNNN.png  sample grid from fixed noise (conditional: one row per class) at every eval
    checkpoints/checkpoint.pt latest checkpoint: model, optimizers, step, RNG state, and the config
    result.json               {"status": done|diverged|stopped, "step", "wall_time", "train_time",
                              "images_per_s", "flops_per_step", "flops" (= step x flops_per_step), ...}

Every file gv writes -- checkpoints, JSON, PNGs, NPZ, caches -- goes through :func:`atomic_path`:
written under a temporary name in the same folder, then renamed over the target. A reader (the
live table, a report, a resumed run, a parallel trial) sees the old file or the new one, never
half of one, and a writer killed mid-way leaves the old file as it was.

``metrics.jsonl`` is the exception by design: it is appended line by line (the history matters
and rewriting it every step would cost), so a killed writer can leave a torn last line. Every
reader here skips a line it can't parse, with a warning, and never crashes: resuming is what a
run killed mid-write needs most.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import GVError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"

log = logging.getLogger("gv.rundir")


# --- writing ------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without an error, removed otherwise. Unique per process and call, so parallel writers of the
    same file (trials sharing a cache) never write into each other's temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any] | None:
    """A JSON object gv wrote, or None when the file is missing, torn or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_creatable(path: str | os.PathLike, flag: str) -> Path:
    """``path`` as a directory gv may create or write into, checked before any work by really making
    (and removing) a scratch folder in its nearest existing parent: permissions, read-only or
    pseudo file systems (/proc) and files in the way are all caught, and nothing is left behind."""
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise GVError(f"bad {flag} '{path}': it is a file, not a directory; pass a directory path")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise GVError(
            f"bad {flag} '{path}': '{existing}' is a file, so no directory can be made under it; pass a directory path"
        )
    try:
        probe = Path(tempfile.mkdtemp(prefix=".gv-write-check-", dir=existing))
        probe.rmdir()
    except OSError as exc:
        raise GVError(
            f"bad {flag} '{path}': can't create anything in '{existing}' ({exc.strerror or exc}); "
            "pass a directory you can write"
        ) from None
    return path


# --- metrics.jsonl ------------------------------------------------------------------------------


def metrics_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / METRICS_FILE


def _parse(lines: list[str], source: Path, first_line: int = 1, warn: bool = True) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            if warn:
                log.warning(
                    "skipped line %d of %s: not a complete JSON record (a writer killed mid-line?)", number, source
                )
            continue
        records.append(record)
    return records


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a run's metrics.jsonl, oldest first ([] when there is none); a torn or
    foreign line is skipped with a warning."""
    path = metrics_path(run_dir)
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return []
    return _parse(text.splitlines(), path)


def last_logged(run_dir: str | os.PathLike, tail_bytes: int = 4096) -> dict[str, Any]:
    """The newest loss record ({} if none yet), read from the file's end: cheap enough for a live
    view to poll while the trainer appends. The tail's first line is usually cut, and the last
    one may be being written: both are skipped silently."""
    path = metrics_path(run_dir)
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - tail_bytes))
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return {}
    for record in reversed(_parse(lines, path, warn=False)):
        if "images_per_s" in record:
            return record
    return {}


def truncate_metrics(run_dir: str | os.PathLike, after_step: int) -> None:
    """Keep only the records up to ``after_step`` (a resumed run's checkpoint), so its history has
    no duplicate steps; torn lines go too. Rewritten atomically."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return
    kept = [
        r
        for r in read_metrics(run_dir)
        if isinstance(r.get("step", 0), (int, float)) and r.get("step", 0) <= after_step
    ]
    write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


class MetricsWriter:
    """Appends records to a run's metrics.jsonl, one flushed line each."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = metrics_path(run_dir)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self._file = self.path.open("a")

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _drop_torn_tail(path: Path) -> None:
    """A line cut off by a killed writer would be glued to the next record appended: cut it off."""
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size == 0:
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        log.warning("dropped a torn last line of %s (%d bytes; a writer killed mid-line)", path, len(data) - keep)
        fh.truncate(keep)
